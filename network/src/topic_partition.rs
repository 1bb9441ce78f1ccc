//! `TopicPartition`: a topic name and a partition index.

use std::fmt;

/// A topic and one of its partitions. Displays as `topic-0`, as in the Java client.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    /// A topic partition.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

impl<S: Into<String>> From<(S, i32)> for TopicPartition {
    fn from((topic, partition): (S, i32)) -> Self {
        TopicPartition::new(topic, partition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_and_orders_like_java() {
        let a = TopicPartition::new("orders", 2);
        assert_eq!(a.to_string(), "orders-2");
        let mut v = vec![
            TopicPartition::new("b", 0),
            TopicPartition::new("a", 10),
            TopicPartition::new("a", 2),
        ];
        v.sort();
        assert_eq!(
            v,
            vec![
                TopicPartition::new("a", 2),
                TopicPartition::new("a", 10),
                TopicPartition::new("b", 0)
            ]
        );
        assert_eq!(TopicPartition::from(("x", 1)), TopicPartition::new("x", 1));
    }
}
