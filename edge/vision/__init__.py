"""Pure image pre- and post-processing for the detector: letterboxing, NMS, box scaling."""
