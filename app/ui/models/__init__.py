"""Models in the window: the Models pane, its tables, downloads, details and the model picker."""
