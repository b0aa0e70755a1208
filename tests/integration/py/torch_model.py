"""A real ML process for the integration suite: imports numpy and torch,
builds a model with >= 1 GiB of float32 weights, runs a forward pass, says
ready, and after restore checks the same pass gives bit-identical output,
the thread pools still work, and the interpreter keeps working."""
import hashlib
import os
import sys
import time

t0 = time.monotonic()
import numpy as np
import torch

torch.set_num_threads(os.cpu_count() or 1)
torch.manual_seed(1234)
width = int(os.environ.get("MODEL_WIDTH", "8192"))
layers = int(os.environ.get("MODEL_LAYERS", "4"))
model = torch.nn.Sequential(*[torch.nn.Linear(width, width) for _ in range(layers)])
nbytes = sum(p.numel() * p.element_size() for p in model.parameters())
x = torch.randn(16, width)
with torch.no_grad():
    before = model(x)
digest_before = hashlib.sha256(before.numpy().tobytes()).hexdigest()
a = np.random.default_rng(5).standard_normal((512, 512))
np_before = hashlib.sha256((a @ a).tobytes()).hexdigest()
threads = torch.get_num_threads()
startup = time.monotonic() - t0

sys.stdout.write("ready\n")
sys.stdout.flush()
line = sys.stdin.readline()  # blocks in read(0) across the snapshot

fail = []
with torch.no_grad():
    after = model(x)
if hashlib.sha256(after.numpy().tobytes()).hexdigest() != digest_before:
    fail.append("forward pass differs after restore")
if hashlib.sha256((a @ a).tobytes()).hexdigest() != np_before:
    fail.append("numpy matmul differs after restore")
if torch.get_num_threads() != threads:
    fail.append("thread count changed")
big = torch.randn(1024, 1024)
for _ in range(4):
    big = big @ big / 1024.0
if not torch.isfinite(big).all():
    fail.append("a large matmul after restore went wrong")
if (os.cpu_count() or 1) > 1 and len(os.listdir("/proc/self/task")) < 2:
    fail.append("the thread pool is gone")
import json  # an import after restore
blob = bytearray(500 * 1024 * 1024)
blob[-1] = 7
if blob[-1] != 7:
    fail.append("allocation after restore")
del blob
if nbytes < (1 << 30) and os.environ.get("MODEL_WIDTH") is None:
    fail.append("model smaller than 1 GiB: %d bytes" % nbytes)
if fail:
    sys.stderr.write("FAIL: " + "; ".join(fail) + "\n")
    sys.exit(1)
print(json.dumps({"ok": True, "weights_bytes": nbytes, "threads": threads, "startup_s": round(startup, 3)}))
sys.stdout.write("ok\n")
