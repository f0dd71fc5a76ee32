//! The Merkle tree of RFC 9162 (Certificate Transparency 2.0, §2.1): leaf and node hashes with
//! domain separation, inclusion proofs and consistency proofs, and their verification. Pure
//! functions over leaf hashes, so a mirror or an auditor can run the same code.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// SHA-256(0x00 ‖ data): a leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new().chain_update([0u8]).chain_update(data).finalize().into()
}

/// SHA-256(0x01 ‖ left ‖ right): an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new().chain_update([1u8]).chain_update(left).chain_update(right).finalize().into()
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]): the tree head over leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// PATH(m, D[n]): the inclusion proof of leaf `m` in the tree over `leaves`.
pub fn inclusion_proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split(n);
    if m < k {
        let mut path = inclusion_proof(m, &leaves[..k]);
        path.push(root(&leaves[k..]));
        path
    } else {
        let mut path = inclusion_proof(m - k, &leaves[k..]);
        path.push(root(&leaves[..k]));
        path
    }
}

/// PROOF(m, D[n]): that the tree over the first `m` leaves is a prefix of the tree over all.
pub fn consistency_proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    if m == 0 || m >= leaves.len() {
        return Vec::new();
    }
    subproof(m, leaves, true)
}

fn subproof(m: usize, leaves: &[Hash], complete: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if complete { Vec::new() } else { vec![root(leaves)] };
    }
    let k = split(n);
    if m <= k {
        let mut proof = subproof(m, &leaves[..k], complete);
        proof.push(root(&leaves[k..]));
        proof
    } else {
        let mut proof = subproof(m - k, &leaves[k..], false);
        proof.push(root(&leaves[..k]));
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
pub fn verify_consistency(first: u64, second: u64, first_head: &Hash, second_head: &Hash, proof: &[Hash]) -> bool {
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
        (0..n).map(|i| leaf_hash(format!("leaf {i}").as_bytes())).collect()
    }

    #[test]
    fn the_tree_head_matches_rfc_9162_for_small_trees() {
        let l = leaves(3);
        assert_eq!(root(&[]), <[u8; 32]>::from(Sha256::digest([])));
        assert_eq!(root(&l[..1]), l[0]);
        assert_eq!(root(&l), node_hash(&node_hash(&l[0], &l[1]), &l[2]), "split at the largest power of two below n");
        assert_ne!(leaf_hash(b"x"), <[u8; 32]>::from(Sha256::digest(b"x")), "leaves are domain-separated");
    }

    #[test]
    fn every_leaf_of_every_tree_up_to_40_proves_its_inclusion_and_nothing_else_does() {
        for n in 1..=40 {
            let l = leaves(n);
            let head = root(&l);
            for m in 0..n {
                let proof = inclusion_proof(m, &l);
                assert!(verify_inclusion(m as u64, n as u64, &l[m], &proof, &head), "leaf {m} of {n}");
                let other = leaf_hash(b"forged");
                assert!(!verify_inclusion(m as u64, n as u64, &other, &proof, &head), "a forged leaf {m} of {n}");
                if n > 1 {
                    assert!(!verify_inclusion(((m + 1) % n) as u64, n as u64, &l[m], &proof, &head), "leaf {m} at the wrong index of {n}");
                }
            }
        }
    }

    #[test]
    fn every_prefix_of_every_tree_up_to_40_proves_consistency_and_a_rewritten_prefix_does_not() {
        for n in 1..=40 {
            let l = leaves(n);
            let head = root(&l);
            for m in 1..=n {
                let old = root(&l[..m]);
                let proof = consistency_proof(m, &l);
                assert!(verify_consistency(m as u64, n as u64, &old, &head, &proof), "{m} → {n}");
                // One of the first m leaves rewritten: the new tree is no extension of the old.
                let mut rewritten = l.clone();
                rewritten[m - 1] = leaf_hash(b"rewritten");
                let (new_head, new_proof) = (root(&rewritten), consistency_proof(m, &rewritten));
                assert!(!verify_consistency(m as u64, n as u64, &old, &new_head, &new_proof), "rewritten leaf {} of {m} → {n}", m - 1);
            }
        }
    }
}
