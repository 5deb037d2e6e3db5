"""Train a wisefast recipe on several GPUs or machines with `wise_distrib_ctx`, fastai's `distrib_ctx` (DDP through accelerate).

One machine, 4 GPUs:
    torchrun --nproc_per_node 4 recipes/train_ddp.py --data intel --arch resnet50 --head wise
    accelerate launch --multi_gpu --num_processes 4 recipes/train_ddp.py --data intel --arch resnet50
Two machines with 8 GPUs each (run on both, --node_rank 1 / --machine_rank 1 on the second):
    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 8 --master_addr HOST0 --master_port 29500 recipes/train_ddp.py ...
CPU only (gloo), e.g. to try it out:
    torchrun --nproc_per_node 2 recipes/train_ddp.py --arch resnet10t --size 32 --bs 64 --epochs 2 --n-per-class 100

`--bs` is the global batch size (default: the paper's 70 or 15): each of the N processes loads `bs // N` images per
step (rounded down).
Only rank 0 prints the progress, writes the checkpoints, the history and the exported model.
"""
import inspect, json
import torch
from pathlib import Path
from fastcore.script import call_parse
from fastai.torch_core import rank_distrib, num_distrib
from wisefast.recipes import scratch_224, finetune_512
from wisefast.distributed import ranks_max_diff, wise_distrib_ctx, wise_rank0_first
from wisefast.heads import nonneg_params
from wisefast.export import save_weights

def _check(learn, start, world):
    "Print (rank 0) how far the ranks' weights are apart, how far training moved them, and the constrained weights."
    diff = ranks_max_diff(learn.model)   # a collective: every rank calls it
    moved = max(float((p.detach() - s).abs().max()) for p, s in zip(learn.model.parameters(), start))
    cons = torch.cat([p.detach().flatten() for p in nonneg_params(learn.model)]) if nonneg_params(learn.model) else None
    res = dict(world=world, max_rank_diff=diff, max_update=moved,
               nonneg_min=None if cons is None else float(cons.min()),
               nonneg_zero_frac=None if cons is None else float((cons == 0).float().mean()))
    if not rank_distrib(): print('DDP_CHECK ' + json.dumps(res), flush=True)

@call_parse
def main(data:str='fashion_mnist', # Dataset name (intel, mit_indoor, imagenet70, fashion_mnist) or an image folder
         arch:str='resnet50', # timm or Keras architecture name
         head:str='wise', # Head variant
         recipe:str='scratch_224', # scratch_224 or finetune_512
         size:int=None, # Image size (default: the recipe's, 224 or 512)
         bs:int=None, # GLOBAL batch size, split over the processes (default: the recipe's, 70 or 15)
         epochs:int=None, # Epochs (default: the paper's for the dataset)
         lr:float=0.045, # Initial learning rate
         pretrained:str=None, # Pretrained weights: 'true' for timm's, or a weights file
         out:str='runs/ddp', # Output folder
         resume:bool=False, # Continue from out/models/last.pth
         seed:int=42, # Random seed (the same on every rank)
         n_per_class:int=None, # Keep at most this many images per class
         num_workers:int=None, # DataLoader workers per process
         download:bool=False, # Download a missing Kaggle dataset (rank 0 does it)
         check:bool=False, # Print a JSON line with the cross-rank weight difference and the constrained minimum
        ):
    "Train `recipe` with DDP over all processes started by torchrun / accelerate launch."
    fit = finetune_512 if recipe == 'finetune_512' else scratch_224
    world = max(num_distrib(), 1)
    kw = dict(arch=arch, head=head, lr=lr, path=out, resume=resume, seed=seed, num_workers=num_workers, train=False,
              dls_kwargs=dict(n_per_class=n_per_class, download=download))
    if size: kw['size'] = size
    kw['bs'] = max((bs or inspect.signature(fit).parameters['bs'].default) // world, 1)  # global → per process
    if epochs: kw['epochs'] = epochs
    if pretrained: kw['pretrained'] = True if pretrained.lower() == 'true' else pretrained
    learn = wise_rank0_first(fit, data, **kw)   # rank 0 downloads/scans the data first, then the others build theirs
    if not rank_distrib(): print(f"{world} process(es), {learn.dls.bs} images each per step, output in {out}")
    if check: start = [p.detach().clone() for p in learn.model.parameters()]
    with wise_distrib_ctx(learn):
        learn.fit_staircase(**learn.staircase)
        if check: _check(learn, start, world)
    learn.export('export.pkl')                       # rank 0 only (fastai)
    save_weights(learn, Path(out)/'model.safetensors')  # rank 0 only
