"""What leaves a build for the outside world: tags players and platforms read, encodings."""
