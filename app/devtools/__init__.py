"""Developer tools shipped with Moss but outside its product layers: screenshots, benches, the synthetic
engine, offscreen sessions, a loopback Hub and header-only model replicas. Nothing in the product imports them."""
