"""Qt glue without widgets: worker objects on their own threads and the controllers that own them."""
