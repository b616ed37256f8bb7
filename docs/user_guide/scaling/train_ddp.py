"""Data-parallel training: run one process per device with torchrun.

::

    torchrun --nproc_per_node 2 train_ddp.py X.npy y.npy model.pkl
    accelerate launch --multi_gpu --num_processes 2 train_ddp.py X.npy y.npy model.pkl

Each process reads its own shard of the rows (a memory-mapped file here; any
reader that gives each rank its part will do), and all of them train one
network together. Rank 0 saves it.
"""

import os
import pickle
import sys

import numpy as np
import torch
import torch.distributed as dist

from skemd import EMDClassifier


def main(X_path, y_path, model_path):
    # NCCL where every process has a GPU, gloo on the CPU.
    on_gpu = torch.cuda.is_available()
    if on_gpu:
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group("nccl" if on_gpu else "gloo")
    rank, world_size = dist.get_rank(), dist.get_world_size()

    X, y = np.load(X_path, mmap_mode="r"), np.load(y_path, mmap_mode="r")
    rows = np.array_split(np.arange(len(y)), world_size)[rank]
    clf = EMDClassifier(
        distributed=True,
        random_state=0,
        verbose=int(rank == 0),
    )
    clf.fit(np.asarray(X[rows]), np.asarray(y[rows]))

    # Every rank holds the same network: rank 0 saves it.
    if rank == 0:
        with open(model_path, "wb") as file:
            pickle.dump(clf, file)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:4])
