"""Sources: capture URI kinds, OpenCV capture from a video file into the mailbox, reopen, twin decoding."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.errors import SourceError
from edge.frame_mailbox import FrameMailbox
from edge.records import Frame, MonotonicSeq
from edge.settings import AgentSettings, OpenCVSourceSettings, TwinSourceSettings
from edge.sources.base import open_source
from edge.sources.opencv_capture import OpenCVSource, capture_target
from edge.sources.twin_mqtt import TwinSource, frame_from_message, samples_from_batch
from proto import codec
from proto.messages import CameraFrame, SensorBatch


@pytest.mark.parametrize(
    ("uri", "target", "api", "is_file"),
    [
        ("0", 0, cv2.CAP_ANY, False),
        ("rtsp://10.0.0.5:554/stream", "rtsp://10.0.0.5:554/stream", cv2.CAP_FFMPEG, False),
        ("/data/line.mp4", "/data/line.mp4", cv2.CAP_ANY, True),
        (
            "nvarguscamerasrc ! video/x-raw(memory:NVMM) ! nvvidconv ! appsink",
            "nvarguscamerasrc ! video/x-raw(memory:NVMM) ! nvvidconv ! appsink",
            cv2.CAP_GSTREAMER,
            False,
        ),
    ],
)
def test_capture_target(uri: str, target: int | str, api: int, is_file: bool) -> None:
    assert capture_target(uri) == (target, api, is_file)


def test_gstreamer_pipeline_needs_an_appsink() -> None:
    with pytest.raises(SourceError, match="appsink"):
        capture_target("videotestsrc ! autovideosink")


def write_video(path: Path, frames: int = 12) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 100.0, (64, 48))
    for i in range(frames):
        image = np.full((48, 64, 3), i * 10, np.uint8)
        writer.write(image)
    writer.release()


async def wait_for(predicate: Any, within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)


async def test_video_file_frames_reach_the_mailbox(tmp_path: Path) -> None:
    video = tmp_path / "line.avi"
    write_video(video)
    settings = OpenCVSourceSettings(
        camera_id="cam-1", line_id="line-a", machine_id="m1", uri=str(video), fps=500
    )
    source = OpenCVSource(settings)
    mailbox = FrameMailbox(per_camera=100)
    await source.start_frames(mailbox)
    await wait_for(lambda: source.finished)
    await source.stop()
    frames = mailbox.take(100)
    assert len(frames) == 12
    assert frames[0].image is not None
    assert frames[0].image.shape == (48, 64, 3)
    assert [f.camera_id for f in frames] == ["cam-1"] * 12
    seqs = [f.seq for f in frames]
    assert seqs == sorted(set(seqs))  # strictly increasing
    assert frames[0].machine_id == "m1"
    assert mailbox.newest_ms()["cam-1"] == max(f.timestamp_ms for f in frames)  # capture times
    assert mailbox.losses()["cam-1"] >= mailbox.arrivals()["cam-1"]  # an ended file is a lost camera


class FlakyCapture:
    """Opens, gives two frames, then fails; the source must reopen it."""

    opened = 0

    def __init__(self, target: int | str, api: int) -> None:
        FlakyCapture.opened += 1
        self.left = 2

    def isOpened(self) -> bool:
        return True

    def set(self, prop: int, value: float) -> bool:
        return True

    def get(self, prop: int) -> float:
        return 0.0

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.left == 0:
            return False, None
        self.left -= 1
        return True, np.zeros((8, 8), np.uint8)

    def release(self) -> None:
        pass


async def test_failed_capture_is_reopened_and_grey_frames_become_bgr() -> None:
    settings = OpenCVSourceSettings(camera_id="cam-2", line_id="l", uri="rtsp://camera/stream", reopen_s=0.01)
    source = OpenCVSource(settings, open_capture=FlakyCapture)
    mailbox = FrameMailbox(per_camera=100)
    await source.start_frames(mailbox)
    await wait_for(lambda: FlakyCapture.opened >= 3)
    await source.stop()
    assert source.failures >= 2
    assert "cam-2" in mailbox.losses()  # each failed capture is reported: the agent sends a DDEATH
    frames = mailbox.take(100)
    assert len(frames) >= 4
    assert frames[0].image is not None
    assert frames[0].image.shape == (8, 8, 3)


class ClosedCapture(FlakyCapture):
    def isOpened(self) -> bool:
        return False


async def test_a_capture_that_does_not_open_is_reported_lost() -> None:
    settings = OpenCVSourceSettings(camera_id="cam-3", line_id="l", uri="rtsp://camera/stream", reopen_s=0.01)
    source = OpenCVSource(settings, open_capture=ClosedCapture)
    mailbox = FrameMailbox()
    await source.start_frames(mailbox)
    await wait_for(lambda: "cam-3" in mailbox.losses())
    await source.stop()
    assert mailbox.arrivals() == {}


def test_mailbox_notes_the_newest_frame_per_camera() -> None:
    mailbox = FrameMailbox(per_camera=1)
    image = np.zeros((4, 4, 3), np.uint8)
    for t, received in ((5_000, 1.0), (9_000, 2.0), (7_000, 3.0)):  # out of order: the newest stays
        mailbox.put(Frame("c", "l", t, t, image=image, received_s=received))
    assert mailbox.newest_ms() == {"c": 9_000}
    assert mailbox.arrivals() == {"c": 3.0}
    assert mailbox.dropped["c"] == 2


def test_twin_messages_become_samples_and_frames() -> None:
    batch = SensorBatch(
        site_id="s",
        line_id="l",
        machine_id="m1",
        machine_kind="pump",
        channels=["a", "b"],
        units=["degC", "bar"],
        timestamps_ms=[10, 20],
        values=[1.0, 2.0, 3.0, float("nan")],
        seq=7,
    )
    samples = samples_from_batch(codec.decode(SensorBatch, codec.encode(batch)))
    assert samples.channels == ("a", "b")
    assert samples.timestamps_ms.tolist() == [10, 20]
    assert samples.values[1, 0] == 3.0
    assert np.isnan(samples.values[1, 1])
    assert samples.unit("b") == "bar"
    assert samples.source_seq == 7
    _ok, jpeg = cv2.imencode(".jpg", np.zeros((4, 6, 3), np.uint8))
    message = CameraFrame(camera_id="cam", line_id="l", jpeg=jpeg.tobytes(), width=6, height=4, seq=42)
    frame = frame_from_message(message)
    assert frame.seq == 42
    assert frame.decoded().shape == (4, 6, 3)


def test_twin_filters_and_factory() -> None:
    agent = AgentSettings(sources=({"kind": "twin", "site_id": "s1", "line_ids": ["a", "b"]},))  # type: ignore[arg-type]
    source = open_source(agent.sources[0], agent)
    assert isinstance(source, TwinSource)
    assert source.sensor_filters() == ["twin/v1/s1/a/+/sensors", "twin/v1/s1/b/+/sensors"]
    assert source.frame_filters() == ["twin/v1/s1/a/+/frames", "twin/v1/s1/b/+/frames"]
    camera = TwinSourceSettings(site_id="s1", cameras=("cam-1",))
    assert TwinSource(camera, agent.mqtt, "x").frame_filters() == ["twin/v1/s1/+/cam-1/frames"]


def test_frame_needs_exactly_one_image_form() -> None:
    with pytest.raises(ValueError, match="either"):
        Frame("c", "l", 0, 0)
    with pytest.raises(SourceError):
        Frame("c", "l", 0, 0, jpeg=b"not a jpeg").decoded()


def test_monotonic_seq_never_repeats_even_if_the_clock_stalls() -> None:
    seq = MonotonicSeq(lambda: 1000)
    assert [seq.next() for _ in range(3)] == [1000, 1001, 1002]
