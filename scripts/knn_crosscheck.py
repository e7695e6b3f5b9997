"""Independent check of the kit's weighted k-NN (DINO's eval_knn.py weighting) with NumPy and
scikit-learn, on features exported by `deno task features`:

    deno task features --checkpoint runs/mugs --split train --out /tmp/train.npy
    deno task features --checkpoint runs/mugs --split test --out /tmp/test.npy
    /usr/bin/python3 scripts/knn_crosscheck.py /tmp/train.npy /tmp/test.npy [k=20] [T=0.07]

DINO's rule: L2-normalise, cosine similarity, the k nearest training features, each votes for
its label with weight exp(sim / T); top-1 of the summed votes. Neighbours come from
scikit-learn's NearestNeighbors (brute force, cosine metric), the vote from NumPy. Not a kit
dependency: a cross-check only (Debian's python3-sklearn).
"""
import sys

import numpy as np
from sklearn.neighbors import NearestNeighbors


def main() -> None:
    train, test = sys.argv[1], sys.argv[2]
    k = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    T = float(sys.argv[4]) if len(sys.argv) > 4 else 0.07
    xtr, xte = np.load(train).astype(np.float64), np.load(test).astype(np.float64)
    ytr = np.load(train.replace(".npy", ".labels.npy"))
    yte = np.load(test.replace(".npy", ".labels.npy"))
    xtr /= np.maximum(np.linalg.norm(xtr, axis=1, keepdims=True), 1e-12)
    xte /= np.maximum(np.linalg.norm(xte, axis=1, keepdims=True), 1e-12)
    nn = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(xtr)
    dist, idx = nn.kneighbors(xte)
    sim = 1.0 - dist
    classes = int(max(ytr.max(), yte.max())) + 1
    votes = np.zeros((len(xte), classes))
    np.add.at(votes, (np.arange(len(xte))[:, None], ytr[idx]), np.exp(sim / T))
    top1 = 100.0 * np.mean(votes.argmax(1) == yte)
    print(f"weighted {k}-NN top-1 (scikit-learn neighbours, DINO's vote, T={T}): {top1:.2f}%"
          f" on {len(xte)} test images, bank of {len(xtr)}")


if __name__ == "__main__":
    main()
