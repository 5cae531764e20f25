//! The parent/child tree of a file's events, shared by the viewer's nested
//! order and the trace export.

use std::collections::HashMap;

use flog_core::{Event, Timestamp};

/// Which event an event follows from, and the nesting that makes.
///
/// `parent` names a `num` of the same logger incarnation, so events are keyed by
/// (incarnation, num): a gathered file may hold several incarnations whose
/// numbers overlap. A parent that is not in the file (its buffer wrapped before
/// the incident) makes the event a root. A file may be hostile: a loop of
/// parents is cut where the walk first meets it, so every event appears exactly
/// once in [`preorder`](EventTree::preorder), and nothing recurses (a chain of
/// 100,000 nested events is as fine as a flat list).
#[derive(Debug, Clone, Default)]
pub struct EventTree {
    parent: Vec<Option<u32>>,
    depth: Vec<u32>,
    /// Children of event `i`: `child_list[child_start[i]..child_start[i + 1]]`,
    /// in file order.
    child_start: Vec<u32>,
    child_list: Vec<u32>,
    preorder: Vec<u32>,
    /// Where each event is in `preorder`.
    rank: Vec<u32>,
    /// Descendants of each event (not counting itself).
    descendants: Vec<u32>,
    /// The latest time in each event's subtree, itself included.
    latest: Vec<Timestamp>,
    by_key: HashMap<(u64, u64), u32>,
    several_incarnations: bool,
}

fn inc_key(event: &Event) -> u64 {
    u64::from_le_bytes(event.incarnation.unique)
}

impl EventTree {
    /// Builds the tree of `events` (in file order).
    pub fn new(events: &[Event]) -> EventTree {
        let n = events.len();
        let mut by_key = HashMap::with_capacity(n);
        for (i, e) in events.iter().enumerate() {
            // A number seen twice (a file holding overlapping reports) keeps
            // the first: links point somewhere definite.
            by_key.entry((inc_key(e), e.num)).or_insert(i as u32);
        }
        let several_incarnations = events
            .first()
            .is_some_and(|first| events.iter().any(|e| e.incarnation != first.incarnation));
        let mut parent: Vec<Option<u32>> = events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let p = *by_key.get(&(inc_key(e), e.parent?))?;
                (p as usize != i).then_some(p)
            })
            .collect();
        let (child_start, child_list) = children_of(&parent);
        let mut tree = EventTree {
            depth: vec![0; n],
            descendants: vec![0; n],
            latest: events.iter().map(|e| e.time).collect(),
            preorder: Vec::with_capacity(n),
            rank: vec![0; n],
            parent: Vec::new(),
            child_start,
            child_list,
            by_key,
            several_incarnations,
        };
        tree.walk(&mut parent);
        tree.parent = parent;
        for (k, &i) in tree.preorder.iter().enumerate() {
            tree.rank[i as usize] = k as u32;
        }
        tree.sum_subtrees();
        tree
    }

    /// Depth-first from every root in file order. Events still unvisited then
    /// hang from a loop of parents: the loop is cut at the first of its events
    /// met going up from the first unvisited event, and the walk goes on there.
    fn walk(&mut self, parent: &mut [Option<u32>]) {
        let n = parent.len();
        let mut visited = vec![false; n];
        let mut on_path = vec![u32::MAX; n];
        let mut stack: Vec<u32> = Vec::new();
        let mut starts: Vec<u32> = (0..n as u32)
            .filter(|&i| parent[i as usize].is_none())
            .collect();
        let mut next_unvisited = 0;
        loop {
            for root in starts.drain(..) {
                stack.push(root);
                self.depth[root as usize] = 0;
                while let Some(i) = stack.pop() {
                    if std::mem::replace(&mut visited[i as usize], true) {
                        continue;
                    }
                    self.preorder.push(i);
                    let (from, to) = (
                        self.child_start[i as usize] as usize,
                        self.child_start[i as usize + 1] as usize,
                    );
                    let children = &self.child_list[from..to];
                    let depth = self.depth[i as usize] + 1;
                    // Reversed, so the first child is popped first.
                    for &c in children.iter().rev() {
                        if !visited[c as usize] {
                            self.depth[c as usize] = depth;
                            stack.push(c);
                        }
                    }
                }
            }
            while next_unvisited < n && visited[next_unvisited] {
                next_unvisited += 1;
            }
            if next_unvisited == n {
                break;
            }
            // An unvisited event's parent is unvisited too, so going up
            // ends only by coming round the loop.
            let mut j = next_unvisited;
            while on_path[j] != next_unvisited as u32 {
                on_path[j] = next_unvisited as u32;
                match parent[j] {
                    Some(p) => j = p as usize,
                    None => break,
                }
            }
            parent[j] = None;
            starts.push(j as u32);
        }
        // A loop cut above leaves one child link that now points back up;
        // children lists must match the parents that remain.
        let (child_start, child_list) = children_of(parent);
        self.child_start = child_start;
        self.child_list = child_list;
    }

    /// Descendant counts and latest times, children before parents (reverse
    /// preorder).
    fn sum_subtrees(&mut self) {
        for k in (0..self.preorder.len()).rev() {
            let i = self.preorder[k] as usize;
            if let Some(p) = self.parent[i] {
                let p = p as usize;
                self.descendants[p] += self.descendants[i] + 1;
                if self.latest[i] > self.latest[p] {
                    self.latest[p] = self.latest[i];
                }
            }
        }
    }

    /// How many events the tree holds.
    pub fn len(&self) -> usize {
        self.parent.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    /// The index of event `i`'s parent, when that is in the file.
    pub fn parent(&self, i: usize) -> Option<usize> {
        self.parent[i].map(|p| p as usize)
    }

    /// The children of event `i`, in file order.
    pub fn children(&self, i: usize) -> &[u32] {
        let start = self.child_start[i] as usize;
        let end = self.child_start[i + 1] as usize;
        &self.child_list[start..end]
    }

    /// How deep event `i` is nested (roots are 0).
    pub fn depth(&self, i: usize) -> u32 {
        self.depth[i]
    }

    /// How many events are nested below event `i`.
    pub fn descendants(&self, i: usize) -> usize {
        self.descendants[i] as usize
    }

    /// Whether event `a` is above event `b` (its parent, or its parent's ...).
    /// Constant time: `b` is in `a`'s block of the preorder.
    pub fn is_ancestor(&self, a: usize, b: usize) -> bool {
        let (ra, rb) = (self.rank[a], self.rank[b]);
        ra < rb && rb <= ra + self.descendants[a]
    }

    /// The latest time of event `i` and everything below it.
    pub fn latest(&self, i: usize) -> Timestamp {
        self.latest[i]
    }

    /// Every event once, parents before their children, roots and siblings in
    /// file order.
    pub fn preorder(&self) -> &[u32] {
        &self.preorder
    }

    /// The index of the event numbered `num` in the incarnation of `like`.
    pub fn find(&self, like: &Event, num: u64) -> Option<usize> {
        self.by_key.get(&(inc_key(like), num)).map(|&i| i as usize)
    }

    /// The index of the event with this incarnation id and number.
    pub fn find_in(&self, incarnation: [u8; 8], num: u64) -> Option<usize> {
        self.by_key
            .get(&(u64::from_le_bytes(incarnation), num))
            .map(|&i| i as usize)
    }

    /// Whether the events come from more than one logger incarnation (so a
    /// number alone does not name one).
    pub fn several_incarnations(&self) -> bool {
        self.several_incarnations
    }
}

/// Children lists in compressed form from the parent links: one allocation for
/// all, in file order within each parent.
fn children_of(parent: &[Option<u32>]) -> (Vec<u32>, Vec<u32>) {
    let n = parent.len();
    let mut start = vec![0u32; n + 1];
    for p in parent.iter().flatten() {
        start[*p as usize + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut list = vec![0u32; start[n] as usize];
    for (i, p) in parent.iter().enumerate() {
        if let Some(p) = p {
            let slot = &mut fill[*p as usize];
            list[*slot as usize] = i as u32;
            *slot += 1;
        }
    }
    (start, list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flog_core::Incarnation;

    fn event(num: u64, parent: Option<u64>, time: i64) -> Event {
        Event {
            num,
            parent,
            time: Timestamp(time),
            ..Event::default()
        }
    }

    #[test]
    fn nests_children_under_parents_in_file_order() {
        // 1 ─┬─ 2 ── 4
        //    └─ 3
        // 5 (parent 99 is not in the file)
        let events = [
            event(1, None, 10),
            event(2, Some(1), 20),
            event(3, Some(1), 30),
            event(4, Some(2), 50),
            event(5, Some(99), 40),
        ];
        let tree = EventTree::new(&events);
        let nums: Vec<u64> = tree
            .preorder()
            .iter()
            .map(|&i| events[i as usize].num)
            .collect();
        assert_eq!(nums, [1, 2, 4, 3, 5]);
        assert_eq!(tree.children(0), [1, 2]);
        assert_eq!(tree.parent(3), Some(1));
        assert_eq!(tree.parent(4), None);
        assert_eq!(
            (0..5).map(|i| tree.depth(i)).collect::<Vec<_>>(),
            [0, 1, 1, 2, 0]
        );
        assert_eq!(tree.descendants(0), 3);
        assert_eq!(tree.descendants(1), 1);
        assert_eq!(tree.latest(0), Timestamp(50));
        assert!(tree.is_ancestor(0, 3) && tree.is_ancestor(1, 3) && !tree.is_ancestor(2, 3));
        assert!(!tree.is_ancestor(3, 0) && !tree.is_ancestor(0, 0) && !tree.is_ancestor(0, 4));
        assert_eq!(tree.latest(2), Timestamp(30));
    }

    #[test]
    fn a_loop_of_parents_is_cut_and_every_event_appears_once() {
        // 5 hangs from the loop 1 -> 2 -> 3 -> 1; 4 is its own parent.
        let events = [
            event(5, Some(1), 0),
            event(1, Some(3), 0),
            event(2, Some(1), 0),
            event(3, Some(2), 0),
            event(4, Some(4), 0),
        ];
        let tree = EventTree::new(&events);
        let mut seen: Vec<u32> = tree.preorder().to_vec();
        seen.sort();
        assert_eq!(seen, [0, 1, 2, 3, 4]);
        assert_eq!(tree.parent(0), Some(1), "not in the loop: keeps its parent");
        assert_eq!(
            tree.parent(1),
            None,
            "the loop is cut at its first event met"
        );
        assert_eq!(tree.parent(4), None, "its own parent is no parent");
        assert_eq!(tree.depth(3), 2);
        assert_eq!(tree.depth(0), 1);
        assert_eq!(tree.descendants(1), 3);
        let listed: usize = (0..5).map(|i| tree.children(i).len()).sum();
        assert_eq!(listed, 3, "children match the parents that remain");
    }

    #[test]
    fn a_deep_chain_does_not_recurse() {
        let events: Vec<Event> = (0..200_000u64)
            .map(|n| event(n, n.checked_sub(1), n as i64))
            .collect();
        let tree = EventTree::new(&events);
        assert_eq!(tree.depth(199_999), 199_999);
        assert_eq!(tree.descendants(0), 199_999);
    }

    #[test]
    fn numbers_are_per_incarnation() {
        let a = Incarnation {
            unique: [1; 8],
            sequential: None,
        };
        let b = Incarnation {
            unique: [2; 8],
            sequential: None,
        };
        let mut events = vec![event(1, None, 0), event(2, Some(1), 0)];
        events.push(Event {
            incarnation: b,
            ..event(1, None, 0)
        });
        events.push(Event {
            incarnation: b,
            ..event(2, Some(1), 0)
        });
        events[0].incarnation = a;
        events[1].incarnation = a;
        let tree = EventTree::new(&events);
        assert!(tree.several_incarnations());
        assert_eq!(tree.parent(1), Some(0));
        assert_eq!(tree.parent(3), Some(2));
        assert_eq!(tree.find_in([2; 8], 1), Some(2));
    }
}
