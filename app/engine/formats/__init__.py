"""Chat formats: harmony for gpt-oss (render, parse, the format itself), the GGUF's embedded template for
other models, and choosing between them."""
