"""The simulated world: building footprints, their destruction dates (the ground truth) and the imagery."""

__all__: list[str] = []  # the world's modules are imported by name: footprints, destruction, imagery, clouds
