use super::*;

fn pooled(pool: &Arc<BufferPool>, bytes: &[u8]) -> Bytes {
    let mut buffer = pool.take(POOLED_BODY_MIN);
    buffer.extend_from_slice(bytes);
    pool.lend(buffer)
}

fn kept(pool: &BufferPool) -> Vec<usize> {
    pool.free_capacities()
}

#[test]
fn a_body_buffer_comes_back_when_its_last_reference_is_dropped() {
    let pool = body_pool();
    let body = pooled(&pool, b"reply");
    let slice = body.slice(1..3);
    drop(body);
    assert!(kept(&pool).is_empty(), "still referenced by the slice");
    assert_eq!(&slice[..], b"ep");
    drop(slice);
    assert_eq!(kept(&pool).len(), 1);
    // The next body reuses it, empty.
    let again = pool.take(10);
    assert!(again.is_empty() && again.capacity() >= POOLED_BODY_MIN);
    assert!(kept(&pool).is_empty());
}

#[test]
fn the_pool_keeps_few_buffers_and_no_huge_ones() {
    let pool = body_pool();
    let bodies: Vec<Bytes> = (0..3 * POOLED_BODIES)
        .map(|_| pooled(&pool, b"x"))
        .collect();
    drop(bodies);
    assert_eq!(kept(&pool).len(), POOLED_BODIES);
    let pool = body_pool();
    pool.give_back(Vec::with_capacity(POOLED_BODY_MAX + 1));
    assert!(kept(&pool).is_empty());
}
