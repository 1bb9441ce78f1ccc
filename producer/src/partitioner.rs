//! Partitioners: which partition a record goes to.
//!
//! - [`DefaultPartitioner`]: the Java client's built-in behaviour. Keyed
//!   records go to `toPositive(murmur2(key)) % partitions` — bit for bit the
//!   partition the Java client (and librdkafka's `murmur2_random`) picks.
//!   Records without key stick to one available partition until about
//!   `batch.size` bytes went to it, then switch to another one chosen
//!   uniformly at random (KIP-480 sticky, KIP-794 uniform sticky), or
//!   weighted towards partitions with fewer batches waiting when adaptive
//!   partitioning is on (the default, as in the Java client).
//! - [`RoundRobinPartitioner`], [`RandomPartitioner`], [`ManualPartitioner`].
//! - [`Partitioner`]: the trait for users' own.
//!
//! A record that names its partition always goes there; partitioners only
//! see records without one.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// Kafka's `Utils.murmur2`: 32-bit MurmurHash2 with seed `0x9747b28c`,
/// reading the input as little-endian 4-byte blocks, returned as Java's
/// signed `int`.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len();
    // Java mixes the length in as an int; lengths beyond i32 cannot occur for
    // a Java byte[], so truncation matches for every realistic key.
    let mut h: u32 = SEED ^ (length as u32);
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = blocks.remainder();
    // Java's switch falls through from case 3 to case 1.
    if tail.len() >= 3 {
        h ^= (tail[2] as u32) << 16;
    }
    if tail.len() >= 2 {
        h ^= (tail[1] as u32) << 8;
    }
    if !tail.is_empty() {
        h ^= tail[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `Utils.toPositive`: clears the sign bit (not `abs`, which would
/// overflow on `i32::MIN`).
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition the Java client picks for a keyed record
/// (`BuiltInPartitioner.partitionForKey`).
pub fn partition_for_key(key: &[u8], num_partitions: i32) -> i32 {
    debug_assert!(num_partitions > 0);
    to_positive(murmur2(key)) % num_partitions.max(1)
}

/// What a partitioner knows about a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPartitions {
    /// The topic.
    pub topic: String,
    /// How many partitions it has.
    pub num_partitions: i32,
    /// Partitions that currently have a leader, ascending.
    pub available: Vec<i32>,
}

impl TopicPartitions {
    /// A topic whose partitions all have leaders.
    pub fn all_available(topic: impl Into<String>, num_partitions: i32) -> Self {
        TopicPartitions {
            topic: topic.into(),
            num_partitions,
            available: (0..num_partitions).collect(),
        }
    }
}

/// Chooses a partition for records that do not name one.
///
/// Called from whichever thread calls `send`, so implementations use
/// interior mutability for their state.
pub trait Partitioner: Send + Sync {
    /// The partition for a record with these serialized key and value.
    fn partition(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        partitions: &TopicPartitions,
    ) -> Result<i32>;
}

/// A small thread-safe random source (splitmix64), seeded per process.
/// Partition spreading needs no cryptographic quality.
#[derive(Debug)]
pub(crate) struct Random {
    state: AtomicU64,
}

impl Random {
    pub(crate) fn new() -> Random {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(0x5eed);
        Random {
            state: AtomicU64::new(h.finish()),
        }
    }

    #[cfg(test)]
    pub(crate) fn with_seed(seed: u64) -> Random {
        Random {
            state: AtomicU64::new(seed),
        }
    }

    pub(crate) fn next_u64(&self) -> u64 {
        let mut z = self
            .state
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub(crate) fn below(&self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// What adaptive partitioning (KIP-794) weighs when it picks a new sticky
/// partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionLoad {
    /// Batches waiting per partition; partitions not listed have none.
    pub queue_sizes: HashMap<i32, usize>,
    /// Partitions whose leader has not taken data for longer than
    /// `partitioner.availability.timeout.ms`: left out while others remain.
    pub unavailable: Vec<i32>,
}

/// The sticky partition of one topic.
#[derive(Debug, Clone, Copy)]
struct Sticky {
    partition: i32,
    produced_bytes: usize,
}

/// The sticky partitions of all topics. The topic used last is kept apart:
/// consecutive records mostly go to the same topic, and comparing its name
/// is cheaper than hashing it.
#[derive(Debug, Default)]
struct StickyState {
    current: Option<(String, Sticky)>,
    others: HashMap<String, Sticky>,
}

impl StickyState {
    fn get_mut(&mut self, topic: &str) -> Option<&mut Sticky> {
        if self.current.as_ref().is_some_and(|(t, _)| t == topic) {
            return self.current.as_mut().map(|(_, s)| s);
        }
        let (t, s) = self.others.remove_entry(topic)?;
        self.set_current(t, s);
        self.current.as_mut().map(|(_, s)| s)
    }

    fn set_current(&mut self, topic: String, sticky: Sticky) {
        if let Some((t, s)) = self.current.replace((topic, sticky)) {
            self.others.insert(t, s);
        }
    }
}

/// The Java client's built-in partitioner (`BuiltInPartitioner` with the
/// `DefaultPartitioner` key hashing).
#[derive(Debug)]
pub struct DefaultPartitioner {
    sticky_batch_size: usize,
    ignore_keys: bool,
    sticky: Mutex<StickyState>,
    random: Random,
}

impl DefaultPartitioner {
    /// A partitioner that switches sticky partitions after
    /// `sticky_batch_size` bytes (the producer passes `batch.size`).
    pub fn new(sticky_batch_size: usize, ignore_keys: bool) -> DefaultPartitioner {
        DefaultPartitioner {
            sticky_batch_size: sticky_batch_size.max(1),
            ignore_keys,
            sticky: Mutex::new(StickyState::default()),
            random: Random::new(),
        }
    }

    #[cfg(test)]
    fn with_random(mut self, random: Random) -> Self {
        self.random = random;
        self
    }

    /// The sticky partition for a record of `record_bytes` without key
    /// (KIP-794): keep the current partition until `batch.size` bytes went
    /// there, then pick another one uniformly among the available
    /// partitions.
    pub fn sticky_partition(&self, partitions: &TopicPartitions, record_bytes: usize) -> i32 {
        self.sticky_partition_with_load(partitions, record_bytes, None)
    }

    /// Like [`sticky_partition`](Self::sticky_partition); when a new
    /// partition is chosen and `load` is given (adaptive partitioning,
    /// KIP-794), partitions with fewer batches waiting are more likely (each
    /// candidate weighs `max_queue + 1 - its_queue`) and partitions of
    /// unavailable leaders are left out.
    pub fn sticky_partition_with_load(
        &self,
        partitions: &TopicPartitions,
        record_bytes: usize,
        load: Option<&dyn Fn() -> PartitionLoad>,
    ) -> i32 {
        let mut map = self.sticky.lock().unwrap_or_else(|e| e.into_inner());
        let candidates: &[i32] = &partitions.available;
        // Hot path (every record without key): one lookup by `&str`, no
        // allocation; the topic's name is copied only the first time.
        let current = map.get_mut(partitions.topic.as_str());
        let keep = current.as_ref().is_some_and(|s| {
            s.produced_bytes < self.sticky_batch_size
                && s.partition < partitions.num_partitions
                && (candidates.is_empty() || candidates.contains(&s.partition))
        });
        if keep {
            let s = current.expect("checked by keep");
            s.produced_bytes += record_bytes;
            return s.partition;
        }
        let previous = current.map(|s| s.partition);
        let load = load.map(|f| f());
        let partition = self.pick_new(
            candidates,
            partitions.num_partitions,
            previous,
            load.as_ref(),
        );
        let sticky = Sticky {
            partition,
            produced_bytes: record_bytes,
        };
        match map.get_mut(partitions.topic.as_str()) {
            Some(s) => *s = sticky,
            None => map.set_current(partitions.topic.clone(), sticky),
        }
        partition
    }

    fn pick_new(
        &self,
        available: &[i32],
        num_partitions: i32,
        previous: Option<i32>,
        load: Option<&PartitionLoad>,
    ) -> i32 {
        let mut pool: Vec<i32> = if available.is_empty() {
            (0..num_partitions.max(1)).collect()
        } else {
            available.to_vec()
        };
        if let Some(load) = load.filter(|l| !l.unavailable.is_empty()) {
            let reachable: Vec<i32> = pool
                .iter()
                .copied()
                .filter(|p| !load.unavailable.contains(p))
                .collect();
            // With every leader slow, all partitions stay candidates.
            if !reachable.is_empty() {
                pool = reachable;
            }
        }
        if pool.len() == 1 {
            return pool[0];
        }
        // Uniform among the others, so a switch really moves on.
        let others: Vec<i32> = pool
            .iter()
            .copied()
            .filter(|p| Some(*p) != previous)
            .collect();
        if let Some(load) = load {
            let queue = |p: &i32| load.queue_sizes.get(p).copied().unwrap_or(0);
            let max = others.iter().map(queue).max().unwrap_or(0);
            if max > 0 {
                let weights: Vec<usize> = others.iter().map(|p| max + 1 - queue(p)).collect();
                let total: usize = weights.iter().sum();
                let mut pick = self.random.below(total);
                for (p, w) in others.iter().zip(&weights) {
                    if pick < *w {
                        return *p;
                    }
                    pick -= w;
                }
            }
        }
        others[self.random.below(others.len())]
    }
}

impl Partitioner for DefaultPartitioner {
    fn partition(
        &self,
        _topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        partitions: &TopicPartitions,
    ) -> Result<i32> {
        match key {
            Some(k) if !self.ignore_keys => Ok(partition_for_key(k, partitions.num_partitions)),
            _ => {
                let size = key.map_or(0, |k| k.len()) + value.map_or(0, |v| v.len());
                Ok(self.sticky_partition(partitions, size))
            }
        }
    }
}

/// Round robin over the available partitions (all partitions when none is
/// available), per topic, ignoring keys; Java's `RoundRobinPartitioner`.
#[derive(Debug, Default)]
pub struct RoundRobinPartitioner {
    counters: Mutex<HashMap<String, u32>>,
}

impl RoundRobinPartitioner {
    /// A new partitioner.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Partitioner for RoundRobinPartitioner {
    fn partition(
        &self,
        topic: &str,
        _key: Option<&[u8]>,
        _value: Option<&[u8]>,
        partitions: &TopicPartitions,
    ) -> Result<i32> {
        let next = {
            let mut map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
            let c = map.entry(topic.to_string()).or_insert(0);
            let n = *c;
            *c = c.wrapping_add(1);
            n
        };
        if partitions.available.is_empty() {
            Ok((next % partitions.num_partitions.max(1) as u32) as i32)
        } else {
            Ok(partitions.available[next as usize % partitions.available.len()])
        }
    }
}

/// A uniformly random partition per record (sarama's `NewRandomPartitioner`).
#[derive(Debug)]
pub struct RandomPartitioner {
    random: Random,
}

impl RandomPartitioner {
    /// A new partitioner.
    pub fn new() -> Self {
        RandomPartitioner {
            random: Random::new(),
        }
    }
}

impl Default for RandomPartitioner {
    fn default() -> Self {
        Self::new()
    }
}

impl Partitioner for RandomPartitioner {
    fn partition(
        &self,
        _topic: &str,
        _key: Option<&[u8]>,
        _value: Option<&[u8]>,
        partitions: &TopicPartitions,
    ) -> Result<i32> {
        Ok(self.random.below(partitions.num_partitions.max(1) as usize) as i32)
    }
}

/// Every record must name its partition (sarama's `NewManualPartitioner`);
/// a record without one fails with [`Error::Partitioner`].
#[derive(Debug, Default, Clone, Copy)]
pub struct ManualPartitioner;

impl Partitioner for ManualPartitioner {
    fn partition(
        &self,
        topic: &str,
        _key: Option<&[u8]>,
        _value: Option<&[u8]>,
        _partitions: &TopicPartitions,
    ) -> Result<i32> {
        Err(Error::Partitioner(format!(
            "the manual partitioner needs the record for topic {topic} to name its partition"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Apache Kafka's own vectors (UtilsTest.testMurmur2), as Java ints.
    #[test]
    fn murmur2_matches_kafka_utils_test() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key), expected, "{}", String::from_utf8_lossy(key));
        }
    }

    /// A straight transcription of Java's int arithmetic (signed ints,
    /// `>>>` as logical shift), to cross-check the block/tail handling on
    /// every length 0..64 and on bytes >= 0x80 (sign extension in Java).
    fn java_reference(data: &[u8]) -> i32 {
        let length = data.len() as i32;
        let m: i32 = 0x5bd1_e995;
        let mut h: i32 = (0x9747_b28c_u32 as i32) ^ length;
        let length4 = length / 4;
        for i in 0..length4 {
            let i4 = (i * 4) as usize;
            let mut k: i32 = (data[i4] as i32 & 0xff)
                .wrapping_add((data[i4 + 1] as i32 & 0xff) << 8)
                .wrapping_add((data[i4 + 2] as i32 & 0xff) << 16)
                .wrapping_add((data[i4 + 3] as i32 & 0xff) << 24);
            k = k.wrapping_mul(m);
            k ^= ((k as u32) >> 24) as i32;
            k = k.wrapping_mul(m);
            h = h.wrapping_mul(m);
            h ^= k;
        }
        let base = (length & !3) as usize;
        let rem = length % 4;
        if rem == 3 {
            h ^= (data[base + 2] as i32 & 0xff) << 16;
        }
        if rem >= 2 {
            h ^= (data[base + 1] as i32 & 0xff) << 8;
        }
        if rem >= 1 {
            h ^= data[base] as i32 & 0xff;
            h = h.wrapping_mul(m);
        }
        h ^= ((h as u32) >> 13) as i32;
        h = h.wrapping_mul(m);
        h ^= ((h as u32) >> 15) as i32;
        h
    }

    #[test]
    fn murmur2_equals_java_arithmetic_on_all_tail_lengths() {
        let data: Vec<u8> = (0..64u32).map(|i| (i * 37 + 0x80) as u8).collect();
        for len in 0..data.len() {
            assert_eq!(
                murmur2(&data[..len]),
                java_reference(&data[..len]),
                "len {len}"
            );
        }
    }

    /// Partitions the Java client chooses (`toPositive(murmur2(key)) % n`),
    /// computed from the hashes Kafka's tests pin, for a table of keys.
    #[test]
    fn keyed_partition_matches_java_choice() {
        // "21" -> -973932308 -> toPositive = 1173551340
        assert_eq!(to_positive(-973_932_308), 1_173_551_340);
        let table: [(&[u8], i32, i32); 8] = [
            (b"21", 3, 1_173_551_340 % 3),
            (b"21", 12, 1_173_551_340 % 12),
            (b"foobar", 6, to_positive(-790_332_482) % 6),
            (b"abc", 1, 0),
            (b"abc", 7, 479_470_107 % 7),
            (
                b"a-little-bit-long-string",
                10,
                to_positive(-985_981_536) % 10,
            ),
            (
                b"a-little-bit-longer-string",
                32,
                to_positive(-1_486_304_829) % 32,
            ),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                5,
                to_positive(-58_897_971) % 5,
            ),
        ];
        for (key, n, expected) in table {
            assert_eq!(partition_for_key(key, n), expected);
        }
        // Spelled-out values, so a regression shows a number.
        assert_eq!(partition_for_key(b"21", 3), 1_173_551_340 % 3);
        assert_eq!(1_173_551_340 % 3, 0);
        assert_eq!(partition_for_key(b"abc", 7), 479_470_107 % 7);
        // i32::MIN is the case Math.abs would get wrong.
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(-1), i32::MAX);
    }

    #[test]
    fn default_partitioner_hashes_keys_and_sticks_without_key() {
        let p = DefaultPartitioner::new(100, false).with_random(Random::with_seed(7));
        let tp = TopicPartitions::all_available("t", 4);
        assert_eq!(
            p.partition("t", Some(b"foobar"), None, &tp).unwrap(),
            partition_for_key(b"foobar", 4)
        );
        let first = p.partition("t", None, Some(&[0u8; 30]), &tp).unwrap();
        // 30 + 30 + 30 = 90 < 100: stays.
        assert_eq!(
            p.partition("t", None, Some(&[0u8; 30]), &tp).unwrap(),
            first
        );
        assert_eq!(
            p.partition("t", None, Some(&[0u8; 30]), &tp).unwrap(),
            first
        );
        // 120 >= 100 after the next one: it is still counted on `first`...
        assert_eq!(
            p.partition("t", None, Some(&[0u8; 30]), &tp).unwrap(),
            first
        );
        // ...and the following record moves to another partition.
        let second = p.partition("t", None, Some(&[0u8; 30]), &tp).unwrap();
        assert_ne!(second, first);
        assert!((0..4).contains(&second));
    }

    #[test]
    fn sticky_partition_only_uses_available_partitions() {
        let p = DefaultPartitioner::new(1, false).with_random(Random::with_seed(1));
        let tp = TopicPartitions {
            topic: "t".into(),
            num_partitions: 6,
            available: vec![1, 4],
        };
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..20 {
            seen.insert(p.partition("t", None, Some(b"x"), &tp).unwrap());
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![1, 4]);
    }

    #[test]
    fn ignore_keys_spreads_keyed_records_sticky() {
        let p = DefaultPartitioner::new(1_000_000, true);
        let tp = TopicPartitions::all_available("t", 8);
        let a = p.partition("t", Some(b"k1"), None, &tp).unwrap();
        for k in [b"k2", b"k3", b"k4"] {
            assert_eq!(p.partition("t", Some(k), None, &tp).unwrap(), a);
        }
    }

    #[test]
    fn round_robin_cycles_available_partitions() {
        let p = RoundRobinPartitioner::new();
        let tp = TopicPartitions {
            topic: "t".into(),
            num_partitions: 5,
            available: vec![0, 2, 3],
        };
        let got: Vec<i32> = (0..6)
            .map(|_| p.partition("t", Some(b"k"), None, &tp).unwrap())
            .collect();
        assert_eq!(got, vec![0, 2, 3, 0, 2, 3]);
        let none = TopicPartitions {
            topic: "u".into(),
            num_partitions: 2,
            available: vec![],
        };
        let got: Vec<i32> = (0..3)
            .map(|_| p.partition("u", None, None, &none).unwrap())
            .collect();
        assert_eq!(got, vec![0, 1, 0]);
    }

    #[test]
    fn random_stays_in_range_and_manual_refuses() {
        let p = RandomPartitioner::new();
        let tp = TopicPartitions::all_available("t", 3);
        let mut seen = [false; 3];
        for _ in 0..200 {
            seen[p.partition("t", None, None, &tp).unwrap() as usize] = true;
        }
        assert_eq!(seen, [true; 3]);
        let e = ManualPartitioner
            .partition("t", None, None, &tp)
            .unwrap_err();
        assert!(matches!(e, Error::Partitioner(_)));
    }

    #[test]
    fn adaptive_switching_prefers_partitions_with_short_queues() {
        let p = DefaultPartitioner::new(1, false).with_random(Random::with_seed(3));
        let tp = TopicPartitions::all_available("t", 3);
        let load = || PartitionLoad {
            queue_sizes: HashMap::from([(0, 20usize), (1, 0), (2, 0)]),
            unavailable: vec![],
        };
        let mut counts = [0usize; 3];
        for _ in 0..600 {
            counts[p.sticky_partition_with_load(&tp, 10, Some(&load)) as usize] += 1;
        }
        // Weights 1 : 21 : 21 (the previous partition excluded each time).
        assert!(counts[0] * 5 < counts[1], "{counts:?}");
        assert!(counts[0] * 5 < counts[2], "{counts:?}");
    }

    #[test]
    fn partitions_of_unavailable_leaders_are_left_out_while_others_remain() {
        let p = DefaultPartitioner::new(1, false).with_random(Random::with_seed(5));
        let tp = TopicPartitions::all_available("t", 4);
        let load = || PartitionLoad {
            queue_sizes: HashMap::new(),
            unavailable: vec![0, 2],
        };
        let mut counts = [0usize; 4];
        for _ in 0..200 {
            counts[p.sticky_partition_with_load(&tp, 10, Some(&load)) as usize] += 1;
        }
        assert_eq!((counts[0], counts[2]), (0, 0), "{counts:?}");
        assert!(counts[1] > 0 && counts[3] > 0, "{counts:?}");
        // All unavailable: all stay candidates.
        let all = || PartitionLoad {
            queue_sizes: HashMap::new(),
            unavailable: vec![0, 1, 2, 3],
        };
        let mut seen = [false; 4];
        for _ in 0..200 {
            seen[p.sticky_partition_with_load(&tp, 10, Some(&all)) as usize] = true;
        }
        assert_eq!(seen, [true; 4]);
    }
}
