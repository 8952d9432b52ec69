//! libstdc++'s (GCC 13) `std::sort`, `std::nth_element` and `std::partial_sort`, step for
//! step, so that `topk` orders ties as PyTorch's CPU kernel does (it calls these with a
//! comparison of values only, so the order of equal values is whatever these algorithms
//! leave).
//!
//! The comparator must be a strict weak order (the callers' NaN-aware ones are); the loops
//! that libstdc++ leaves unguarded are bounded here too, which changes nothing for such an
//! order and keeps any other from indexing out of range.

/// `threshold` of libstdc++'s introsort: ranges up to this length are left to insertion sort.
const THRESHOLD: usize = 16;

/// `std::__lg`: the floor of the base-2 logarithm of `n > 0`.
fn lg(n: usize) -> usize {
    (usize::BITS - 1 - n.leading_zeros()) as usize
}

/// `std::__unguarded_linear_insert`: moves `v[last]` left past the elements it precedes.
fn unguarded_linear_insert<E: Copy>(v: &mut [E], last: usize, comp: &impl Fn(&E, &E) -> bool) {
    let val = v[last];
    let mut last = last;
    while let Some(next) = last.checked_sub(1) {
        if !comp(&val, &v[next]) {
            break;
        }
        v[last] = v[next];
        last = next;
    }
    v[last] = val;
}

/// `std::__insertion_sort` of `v[first..last]`.
fn insertion_sort<E: Copy>(v: &mut [E], first: usize, last: usize, comp: &impl Fn(&E, &E) -> bool) {
    if first == last {
        return;
    }
    for i in first + 1..last {
        if comp(&v[i], &v[first]) {
            let val = v[i];
            v.copy_within(first..i, first + 1);
            v[first] = val;
        } else {
            unguarded_linear_insert(v, i, comp);
        }
    }
}

/// `std::__final_insertion_sort`.
fn final_insertion_sort<E: Copy>(
    v: &mut [E],
    first: usize,
    last: usize,
    comp: &impl Fn(&E, &E) -> bool,
) {
    if last - first > THRESHOLD {
        insertion_sort(v, first, first + THRESHOLD, comp);
        for i in first + THRESHOLD..last {
            unguarded_linear_insert(v, i, comp);
        }
    } else {
        insertion_sort(v, first, last, comp);
    }
}

/// `std::__push_heap` on the heap at `first`: `hole` and `top` are offsets from it.
fn push_heap<E: Copy>(
    v: &mut [E],
    first: usize,
    mut hole: isize,
    top: isize,
    val: E,
    comp: &impl Fn(&E, &E) -> bool,
) {
    let at = |i: isize| first + i as usize;
    let mut parent = (hole - 1) / 2;
    while hole > top && comp(&v[at(parent)], &val) {
        v[at(hole)] = v[at(parent)];
        hole = parent;
        parent = (hole - 1) / 2;
    }
    v[at(hole)] = val;
}

/// `std::__adjust_heap`.
fn adjust_heap<E: Copy>(
    v: &mut [E],
    first: usize,
    mut hole: isize,
    len: isize,
    val: E,
    comp: &impl Fn(&E, &E) -> bool,
) {
    let at = |i: isize| first + i as usize;
    let top = hole;
    let mut second = hole;
    while second < (len - 1) / 2 {
        second = 2 * (second + 1);
        if comp(&v[at(second)], &v[at(second - 1)]) {
            second -= 1;
        }
        v[at(hole)] = v[at(second)];
        hole = second;
    }
    if len & 1 == 0 && second == (len - 2) / 2 {
        second = 2 * (second + 1);
        v[at(hole)] = v[at(second - 1)];
        hole = second - 1;
    }
    push_heap(v, first, hole, top, val, comp);
}

/// `std::__pop_heap(first, last, result)`.
fn pop_heap<E: Copy>(
    v: &mut [E],
    first: usize,
    last: usize,
    result: usize,
    comp: &impl Fn(&E, &E) -> bool,
) {
    let val = v[result];
    v[result] = v[first];
    adjust_heap(v, first, 0, (last - first) as isize, val, comp);
}

/// `std::__make_heap`.
fn make_heap<E: Copy>(v: &mut [E], first: usize, last: usize, comp: &impl Fn(&E, &E) -> bool) {
    let len = (last - first) as isize;
    if len < 2 {
        return;
    }
    let mut parent = (len - 2) / 2;
    loop {
        let val = v[first + parent as usize];
        adjust_heap(v, first, parent, len, val, comp);
        if parent == 0 {
            return;
        }
        parent -= 1;
    }
}

/// `std::__heap_select`.
fn heap_select<E: Copy>(
    v: &mut [E],
    first: usize,
    middle: usize,
    last: usize,
    comp: &impl Fn(&E, &E) -> bool,
) {
    make_heap(v, first, middle, comp);
    for i in middle..last {
        if comp(&v[i], &v[first]) {
            pop_heap(v, first, middle, i, comp);
        }
    }
}

/// `std::__sort_heap`.
fn sort_heap<E: Copy>(v: &mut [E], first: usize, mut last: usize, comp: &impl Fn(&E, &E) -> bool) {
    while last - first > 1 {
        last -= 1;
        pop_heap(v, first, last, last, comp);
    }
}

/// `std::__partial_sort(first, middle, last)`.
fn partial_sort_range<E: Copy>(
    v: &mut [E],
    first: usize,
    middle: usize,
    last: usize,
    comp: &impl Fn(&E, &E) -> bool,
) {
    heap_select(v, first, middle, last, comp);
    sort_heap(v, first, middle, comp);
}

/// `std::__move_median_to_first`.
fn move_median_to_first<E: Copy>(
    v: &mut [E],
    result: usize,
    a: usize,
    b: usize,
    c: usize,
    comp: &impl Fn(&E, &E) -> bool,
) {
    let swap_with = if comp(&v[a], &v[b]) {
        if comp(&v[b], &v[c]) {
            b
        } else if comp(&v[a], &v[c]) {
            c
        } else {
            a
        }
    } else if comp(&v[a], &v[c]) {
        a
    } else if comp(&v[b], &v[c]) {
        c
    } else {
        b
    };
    v.swap(result, swap_with);
}

/// `std::__unguarded_partition` of `v[first..last]` around `v[pivot]`.
fn unguarded_partition<E: Copy>(
    v: &mut [E],
    mut first: usize,
    mut last: usize,
    pivot: usize,
    comp: &impl Fn(&E, &E) -> bool,
) -> usize {
    loop {
        while first + 1 < v.len() && comp(&v[first], &v[pivot]) {
            first += 1;
        }
        last -= 1;
        while last > 0 && comp(&v[pivot], &v[last]) {
            last -= 1;
        }
        if first >= last {
            return first;
        }
        v.swap(first, last);
        first += 1;
    }
}

/// `std::__unguarded_partition_pivot`.
fn partition_pivot<E: Copy>(
    v: &mut [E],
    first: usize,
    last: usize,
    comp: &impl Fn(&E, &E) -> bool,
) -> usize {
    let mid = first + (last - first) / 2;
    move_median_to_first(v, first, first + 1, mid, last - 1, comp);
    unguarded_partition(v, first + 1, last, first, comp)
}

/// `std::__introsort_loop`.
fn introsort_loop<E: Copy>(
    v: &mut [E],
    first: usize,
    mut last: usize,
    mut depth: usize,
    comp: &impl Fn(&E, &E) -> bool,
) {
    while last - first > THRESHOLD {
        if depth == 0 {
            partial_sort_range(v, first, last, last, comp);
            return;
        }
        depth -= 1;
        let cut = partition_pivot(v, first, last, comp);
        introsort_loop(v, cut, last, depth, comp);
        last = cut;
    }
}

/// `std::sort(v.begin(), v.end(), comp)`.
pub(super) fn sort<E: Copy>(v: &mut [E], comp: &impl Fn(&E, &E) -> bool) {
    let n = v.len();
    if n == 0 {
        return;
    }
    introsort_loop(v, 0, n, 2 * lg(n), comp);
    final_insertion_sort(v, 0, n, comp);
}

/// `std::partial_sort(v.begin(), v.begin() + middle, v.end(), comp)`.
pub(super) fn partial_sort<E: Copy>(v: &mut [E], middle: usize, comp: &impl Fn(&E, &E) -> bool) {
    partial_sort_range(v, 0, middle, v.len(), comp);
}

/// `std::nth_element(v.begin(), v.begin() + nth, v.end(), comp)`.
pub(super) fn nth_element<E: Copy>(v: &mut [E], nth: usize, comp: &impl Fn(&E, &E) -> bool) {
    let n = v.len();
    if n == 0 || nth >= n {
        return;
    }
    let (mut first, mut last, mut depth) = (0, n, 2 * lg(n));
    while last - first > 3 {
        if depth == 0 {
            heap_select(v, first, nth + 1, last, comp);
            v.swap(first, nth);
            return;
        }
        depth -= 1;
        let cut = partition_pivot(v, first, last, comp);
        if cut <= nth {
            first = cut;
        } else {
            last = cut;
        }
    }
    insertion_sort(v, first, last, comp);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn less(a: &(i32, usize), b: &(i32, usize)) -> bool {
        a.0 < b.0
    }

    #[test]
    fn sorts_and_selects() {
        let values: Vec<(i32, usize)> = (0..200).map(|i| ((i * 37 % 11) as i32, i)).collect();
        let mut v = values.clone();
        sort(&mut v, &less);
        assert!(v.windows(2).all(|w| w[0].0 <= w[1].0));
        let mut v = values.clone();
        nth_element(&mut v, 50, &less);
        assert!(v[..50].iter().all(|x| x.0 <= v[50].0) && v[51..].iter().all(|x| x.0 >= v[50].0));
        let mut v = values;
        partial_sort(&mut v, 3, &less);
        assert_eq!(
            v[..3].iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![0, 0, 0]
        );
    }
}
