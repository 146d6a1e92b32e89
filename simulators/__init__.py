"""The digital twin: plant, machine physics and degradation, faults, sensors, cameras, scenarios, datasets.

plant.py        plant YAML models, loading, generator         scenario.py   scripted actions and events
twin.py         the vectorized machine model (Twin)           runner.py     PlantRunner, TwinSink, cameras
operating.py    schedules, ramps, load                        clock.py      SimClock, Pacer
thermal.py      first-order thermal model                     wire.py       records -> twin.v1 messages
electrical.py   motor current and losses                      mqtt_publisher.py  paho adapter (a TwinSink)
hydraulics.py   pump and system curves, clogging              export.py     NPZ datasets with splits
vibration.py    bearing frequencies, snippets, features       plotting.py   machine traces
faults.py       fault types, progression, labels, RUL         settings.py   TwinSettings
sensors.py      channels and sensor realism                   camera/       the camera renderer
"""
