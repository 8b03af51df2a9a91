"""Handler of the hello_layer sample."""
