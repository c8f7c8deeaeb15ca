"""The simulated world: building footprints, their destruction dates (the ground truth) and the imagery."""
