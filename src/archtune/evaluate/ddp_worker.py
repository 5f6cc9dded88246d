"""One rank of a torchrun data-parallel evaluation: ``python -m torch.distributed.run ... -m
archtune.evaluate.ddp_worker job.json`` (launched by the image-classification evaluator or by
:func:`~archtune.evaluate.image_classification.serve_node` on the other nodes, not by users).
Rank 0 writes the result JSON where the job says."""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

from archtune.evaluate.image_classification import Job, run_job
from archtune.evaluate.training import Rank


def main(job_path: str) -> None:
    job = Job(**json.loads(Path(job_path).read_text()))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    on_gpu = job.device.startswith("cuda")
    if on_gpu:
        torch.cuda.set_device(local_rank)
    # explicit, and long: a collective waits this long for a rank slowed by a busy machine (Gloo's default
    # is also 30 minutes; NCCL's is 10) before the job fails
    dist.init_process_group("nccl" if on_gpu else "gloo", timeout=timedelta(minutes=30))
    try:
        # NCCL reduces GPU tensors only: the loop's own collectives (losses, accuracy) run on this GPU
        rank = Rank(dist.get_rank(), dist.get_world_size(), f"cuda:{local_rank}" if on_gpu else "cpu")
        result = run_job(job, rank, local_rank)
        if rank.rank == 0:
            tmp = Path(job.result_path + ".tmp")
            tmp.write_text(json.dumps(result))
            tmp.replace(job.result_path)
        # every rank reaches this point before any tears down: a rank leaving while another still talks
        # to it made Gloo abort ("terminate called without an active exception") in about 1 run in 3
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
