"""The Faust worker: the pipeline core over Kafka topics, state in changelog-backed tables."""
