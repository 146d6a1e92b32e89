"""Generated protobuf code for sparkplug_b."""
