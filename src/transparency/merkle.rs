//! The Merkle tree of RFC 9162 (Certificate Transparency 2.0, §2.1): leaf and node hashes with
//! domain separation, inclusion proofs and consistency proofs, and their verification. Pure
//! functions: proofs read the stored perfect subtrees through a callback (the store fetches
//! them), so a mirror or an auditor can run the same code over leaves of their own.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// SHA-256(0x00 ‖ data): a leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([0u8])
        .chain_update(data)
        .finalize()
        .into()
}

/// SHA-256(0x01 ‖ left ‖ right): an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([1u8])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// A perfect subtree as stored: its height (`level`) and its place among the subtrees of that
/// height (`index`). It covers leaves `index·2^level .. (index+1)·2^level`, and never changes
/// once complete, so the log stores each one once and answers any proof from a few of them.
pub type NodeKey = (u8, u64);

/// Reads a stored perfect subtree's hash.
pub type Nodes<'a> = dyn FnMut(NodeKey) -> Hash + 'a;

/// MTH(D[start : start+n]) from stored perfect subtrees. `start` is a multiple of the largest
/// power of two not above `n`, as every subtree the RFC's recursion visits is.
pub fn subtree_root(start: u64, n: u64, node: &mut Nodes) -> Hash {
    if n == 0 {
        return Sha256::digest([]).into();
    }
    if n.is_power_of_two() {
        let level = n.trailing_zeros();
        return node((level as u8, start >> level));
    }
    let k = split(n);
    let left = subtree_root(start, k, node);
    node_hash(&left, &subtree_root(start + k, n - k, node))
}

/// The tree head over the first `size` leaves.
pub fn root(size: u64, node: &mut Nodes) -> Hash {
    subtree_root(0, size, node)
}

/// PATH(m, D[size]): the inclusion proof of leaf `m` in the tree of `size` leaves.
pub fn inclusion_proof(m: u64, size: u64, node: &mut Nodes) -> Vec<Hash> {
    path(m, 0, size, node)
}

fn path(m: u64, start: u64, n: u64, node: &mut Nodes) -> Vec<Hash> {
    if n <= 1 {
        return Vec::new();
    }
    let k = split(n);
    if m < k {
        let mut path = path(m, start, k, node);
        path.push(subtree_root(start + k, n - k, node));
        path
    } else {
        let mut path = path(m - k, start + k, n - k, node);
        path.push(subtree_root(start, k, node));
        path
    }
}

/// PROOF(m, D[size]): that the tree of the first `m` leaves is a prefix of the tree of `size`.
pub fn consistency_proof(m: u64, size: u64, node: &mut Nodes) -> Vec<Hash> {
    if m == 0 || m >= size {
        return Vec::new();
    }
    subproof(m, 0, size, true, node)
}

fn subproof(m: u64, start: u64, n: u64, complete: bool, node: &mut Nodes) -> Vec<Hash> {
    if m == n {
        return if complete {
            Vec::new()
        } else {
            vec![subtree_root(start, n, node)]
        };
    }
    let k = split(n);
    if m <= k {
        let mut proof = subproof(m, start, k, complete, node);
        proof.push(subtree_root(start + k, n - k, node));
        proof
    } else {
        let mut proof = subproof(m - k, start + k, n - k, false, node);
        proof.push(subtree_root(start, k, node));
        proof
    }
}

/// RFC 9162 §2.1.3.2: whether `proof` shows leaf `index` with hash `leaf` in the tree of
/// `size` leaves whose head is `head`.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], head: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn, mut r) = (index, size - 1, *leaf);
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *head
}

/// RFC 9162 §2.1.4.2: whether `proof` shows the tree of `first` leaves with head `first_head`
/// to be a prefix of the tree of `second` leaves with head `second_head`.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_head: &Hash,
    second_head: &Hash,
    proof: &[Hash],
) -> bool {
    if first == second {
        return proof.is_empty() && first_head == second_head;
    }
    if first == 0 || first > second || proof.is_empty() {
        // The empty tree is a prefix of every tree, with nothing to prove.
        return first == 0 && proof.is_empty();
    }
    let mut path: Vec<Hash> = proof.to_vec();
    if first.is_power_of_two() {
        path.insert(0, *first_head);
    }
    let (mut fn_, mut sn) = (first - 1, second - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *first_head && sr == *second_head && sn == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
            .collect()
    }

    /// The RFC's definitions over a list of leaves, word for word: the reference the stored
    /// subtrees must reproduce.
    mod reference {
        use super::*;

        fn split(n: usize) -> usize {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            k
        }

        pub fn root(leaves: &[Hash]) -> Hash {
            match leaves.len() {
                0 => Sha256::digest([]).into(),
                1 => leaves[0],
                n => node_hash(&root(&leaves[..split(n)]), &root(&leaves[split(n)..])),
            }
        }

        pub fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
            let n = leaves.len();
            if n <= 1 {
                return Vec::new();
            }
            let k = split(n);
            let (mut p, sibling) = if m < k {
                (path(m, &leaves[..k]), root(&leaves[k..]))
            } else {
                (path(m - k, &leaves[k..]), root(&leaves[..k]))
            };
            p.push(sibling);
            p
        }

        pub fn proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
            if m == 0 || m >= leaves.len() {
                return Vec::new();
            }
            subproof(m, leaves, true)
        }

        fn subproof(m: usize, leaves: &[Hash], complete: bool) -> Vec<Hash> {
            let n = leaves.len();
            if m == n {
                return if complete {
                    Vec::new()
                } else {
                    vec![root(leaves)]
                };
            }
            let k = split(n);
            let (mut p, other) = if m <= k {
                (subproof(m, &leaves[..k], complete), root(&leaves[k..]))
            } else {
                (subproof(m - k, &leaves[k..], false), root(&leaves[..k]))
            };
            p.push(other);
            p
        }
    }

    /// Every perfect subtree of `leaves`, as the log stores them.
    fn stored(leaves: &[Hash]) -> std::collections::HashMap<NodeKey, Hash> {
        let mut nodes = std::collections::HashMap::new();
        let mut level: Vec<Hash> = leaves.to_vec();
        for height in 0u8.. {
            for (i, h) in level.iter().enumerate() {
                nodes.insert((height, i as u64), *h);
            }
            if level.len() < 2 {
                break;
            }
            level = level
                .chunks_exact(2)
                .map(|pair| node_hash(&pair[0], &pair[1]))
                .collect();
        }
        nodes
    }

    /// Runs `f` over the stored subtrees of the first `n` leaves; a read of any other subtree
    /// (one not complete within `n`, so not yet stored) fails the test.
    fn over<T>(all: &[Hash], n: usize, f: impl FnOnce(&mut Nodes) -> T) -> T {
        let nodes = stored(&all[..n]);
        f(&mut |key: NodeKey| {
            *nodes
                .get(&key)
                .unwrap_or_else(|| panic!("subtree {key:?} is not complete in a log of {n}"))
        })
    }

    #[test]
    fn the_tree_head_matches_rfc_9162_for_small_trees() {
        let l = leaves(3);
        assert_eq!(
            over(&l, 0, |n| root(0, n)),
            <[u8; 32]>::from(Sha256::digest([]))
        );
        assert_eq!(over(&l, 1, |n| root(1, n)), l[0]);
        assert_eq!(
            over(&l, 3, |n| root(3, n)),
            node_hash(&node_hash(&l[0], &l[1]), &l[2]),
            "split at the largest power of two below n"
        );
        assert_ne!(
            leaf_hash(b"x"),
            <[u8; 32]>::from(Sha256::digest(b"x")),
            "leaves are domain-separated"
        );
    }

    #[test]
    fn every_leaf_of_every_tree_up_to_40_proves_its_inclusion_and_nothing_else_does() {
        for n in 1..=40 {
            let l = leaves(n);
            let head = over(&l, n, |nodes| root(n as u64, nodes));
            assert_eq!(head, reference::root(&l), "head of {n}");
            for m in 0..n {
                let proof = over(&l, n, |nodes| inclusion_proof(m as u64, n as u64, nodes));
                assert_eq!(proof, reference::path(m, &l), "path of {m} in {n}");
                assert!(
                    verify_inclusion(m as u64, n as u64, &l[m], &proof, &head),
                    "leaf {m} of {n}"
                );
                let other = leaf_hash(b"forged");
                assert!(
                    !verify_inclusion(m as u64, n as u64, &other, &proof, &head),
                    "a forged leaf {m} of {n}"
                );
                if n > 1 {
                    assert!(
                        !verify_inclusion(((m + 1) % n) as u64, n as u64, &l[m], &proof, &head),
                        "leaf {m} at the wrong index of {n}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_prefix_of_every_tree_up_to_40_proves_consistency_and_a_rewritten_prefix_does_not() {
        for n in 1..=40 {
            let l = leaves(n);
            let head = over(&l, n, |nodes| root(n as u64, nodes));
            for m in 1..=n {
                let old = over(&l, m, |nodes| root(m as u64, nodes));
                let proof = over(&l, n, |nodes| consistency_proof(m as u64, n as u64, nodes));
                assert_eq!(proof, reference::proof(m, &l), "proof of {m} in {n}");
                assert!(
                    verify_consistency(m as u64, n as u64, &old, &head, &proof),
                    "{m} → {n}"
                );
                // One of the first m leaves rewritten: the new tree is no extension of the old.
                let mut rewritten = l.clone();
                rewritten[m - 1] = leaf_hash(b"rewritten");
                let new_head = over(&rewritten, n, |nodes| root(n as u64, nodes));
                let new_proof = over(&rewritten, n, |nodes| {
                    consistency_proof(m as u64, n as u64, nodes)
                });
                assert!(
                    !verify_consistency(m as u64, n as u64, &old, &new_head, &new_proof),
                    "rewritten leaf {} of {m} → {n}",
                    m - 1
                );
            }
        }
    }
}
