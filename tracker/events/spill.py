"""The edge's spill log: clicks answered while Redis could not take them, on local disk until replayed.

In `ack` mode a 302 leaves only once its click is durable. While Redis is unreachable (or refuses
writes) the event writer appends the clicks it answers here instead, one fsync per group of
batches, and replays them into the stream once Redis is back. The log is also what survives a
crash or `kill -9` of the edge: the next edge process finds the files and replays them.

Files. Each writer (one per edge worker) appends to its own segment file
`<folder>/<pid>-<random>.spill`, holding an exclusive `flock` on it for as long as it may write to or
replay it. A segment starts with `MAGIC`, then frames: 4-byte big-endian payload length, 4-byte CRC32 of
the payload, the payload: JSON `[epoch, seq, stream, [event, ...]]`, one batch of events bound for one
stream. A segment is sealed (no more appends) when Redis is back, replayed frame by frame in order,
then unlinked. A file whose lock can be taken belongs to no live writer: a crashed or killed edge
left it, and whoever takes the lock replays it. A torn frame at the end (the crash came mid-write)
was never fsync'd, so no request was answered for it: reading stops there.

Exactly once. A frame carries the (epoch, seq) of its batch; the stream script appends a batch only
when its seq is above the epoch's high-water mark in Redis (`mark_key`), and raises the mark in the
same atomic step. A batch whose write timed out may or may not have been applied: replaying its frame
is then a no-op or the first write, never a second. A frame replayed twice (a crash mid-replay, two
processes racing for an orphan) is skipped the second time. Writers never use an epoch live again
once they have spilled under it, so a live batch can never raise a mark past a frame not yet replayed.

Bounded. A writer keeps at most `max_bytes` in its own segments; a batch that does not fit, or that
the disk refuses (ENOSPC, EIO), is refused: counted, and its ack-mode requests get no 302.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import secrets
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

log = logging.getLogger("tracker.events.spill")

MAGIC = b"TRSPILL1\n"
FRAME = struct.Struct(">II")
SUFFIX = ".spill"
MAX_FRAME = 64 * 1024 * 1024


class SpillError(RuntimeError):
    """The spill folder cannot be used (the message says why); raised at start only."""


@dataclass(frozen=True, slots=True)
class SpilledBatch:
    epoch: str
    seq: int
    stream: str
    events: tuple[bytes, ...]

    def encode(self) -> bytes:
        payload = orjson.dumps([self.epoch, self.seq, self.stream, [e.decode() for e in self.events]])
        return FRAME.pack(len(payload), zlib.crc32(payload)) + payload

    @classmethod
    def decode(cls, payload: bytes) -> SpilledBatch:
        epoch, seq, stream, events = orjson.loads(payload)
        return cls(epoch, int(seq), stream, tuple(e.encode() for e in events))


class Segment:
    """One spill file, opened and locked by this process."""

    def __init__(self, path: Path, fd: int, size: int) -> None:
        self.path = path
        self.fd = fd
        self.size = size

    @classmethod
    def create(cls, folder: Path) -> Segment:
        path = folder / f"{os.getpid()}-{secrets.token_hex(6)}{SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, MAGIC)
        os.fsync(fd)
        _fsync_folder(folder)  # the file's name must survive a crash too
        return cls(path, fd, len(MAGIC))

    @classmethod
    def claim(cls, path: Path) -> Segment | None:
        """The segment at `path` if no live process holds it (its writer died), else None."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Locked, but the file may have been replayed and unlinked between our open and our lock.
            if os.fstat(fd).st_ino != os.stat(path).st_ino:
                raise FileNotFoundError(path)
        except (BlockingIOError, FileNotFoundError):
            os.close(fd)
            return None
        return cls(path, fd, os.fstat(fd).st_size)

    def append(self, frames: bytes) -> None:
        """Write and fsync; on failure the file is cut back to its last good length."""
        try:
            written = os.write(self.fd, frames)
            if written != len(frames):
                raise OSError(errno.ENOSPC, "short write")
            os.fsync(self.fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, self.size)
            raise
        self.size += len(frames)

    def batches(self) -> Iterator[SpilledBatch]:
        """The frames in file order, up to the first torn or corrupt one."""
        with open(self.path, "rb") as handle:
            data = handle.read()
        if not data.startswith(MAGIC):
            log.error("spill file %s has no spill header; left in place", self.path.name)
            return
        offset = len(MAGIC)
        while offset + FRAME.size <= len(data):
            length, crc = FRAME.unpack_from(data, offset)
            payload = data[offset + FRAME.size:offset + FRAME.size + length]
            if length > MAX_FRAME or len(payload) != length or zlib.crc32(payload) != crc:
                log.warning("spill file %s ends with a torn frame at byte %d (never acknowledged)",
                            self.path.name, offset)
                return
            yield SpilledBatch.decode(payload)
            offset += FRAME.size + length

    def remove(self) -> None:
        """Unlink, then release the lock (in that order: nobody can claim a replayed file)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class SpillLog:
    """A writer's spill segments in `folder`: the one being appended to and the ones waiting for replay."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self._active: Segment | None = None
        self._sealed: list[Segment] = []
        self._lock = asyncio.Lock()

    def open(self) -> SpillLog:
        """Create the folder and check that this process can write there; SpillError says why not."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probe = self.folder / f".probe-{os.getpid()}-{secrets.token_hex(4)}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise SpillError(f"cannot write to {self.folder} ({exc.strerror or exc})") from None
        return self

    @property
    def size(self) -> int:
        """Bytes in this writer's own segments."""
        return sum(s.size for s in self._sealed) + (self._active.size if self._active else 0)

    async def append(self, batches: Sequence[SpilledBatch]) -> bool:
        """Make `batches` durable (one write and one fsync for all); False when refused (full or disk error)."""
        frames = b"".join(b.encode() for b in batches)
        async with self._lock:
            if self.size + len(frames) > self.max_bytes:
                return False
            try:
                await asyncio.to_thread(self._append, frames)
            except OSError as exc:
                log.error("spill log refused %d bytes (%s)", len(frames), exc.strerror or exc)
                return False
        return True

    def _append(self, frames: bytes) -> None:
        if self._active is None:
            self._active = Segment.create(self.folder)
        self._active.append(frames)

    async def seal(self) -> None:
        """Stop appending to the current segment: it can be replayed now; a new outage starts a new one.

        Waits for an append in flight: a segment is read for replay only once nothing more goes into it."""
        async with self._lock:
            self._seal()

    def _seal(self) -> None:
        if self._active is not None:
            self._sealed.append(self._active)
            self._active = None

    async def claim_replayable(self) -> list[Segment]:
        """This writer's sealed segments, then every segment no live process holds (oldest first)."""
        async with self._lock:
            return await asyncio.to_thread(self._claim_replayable)

    def _claim_replayable(self) -> list[Segment]:
        own = list(self._sealed)
        self._sealed.clear()
        mine = {s.path for s in own} | ({self._active.path} if self._active else set())
        orphans = []
        for path in sorted(self.folder.glob(f"*{SUFFIX}"), key=_mtime):
            if path in mine:
                continue
            segment = Segment.claim(path)
            if segment is not None:
                orphans.append(segment)
        return own + orphans

    def give_back(self, segments: Sequence[Segment]) -> None:
        """Segments a replay could not finish: kept (still locked) for the next try."""
        self._sealed[:0] = segments

    def close(self) -> None:
        """Release every lock; what is left on disk is replayed by the next process."""
        self._seal()
        for segment in self._sealed:
            segment.close()
        self._sealed.clear()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
