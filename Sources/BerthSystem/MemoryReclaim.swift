import CBerthSys

/// glibc's allocator keeps memory a burst of requests freed in its per-thread arenas; berthd
/// gives it back to the kernel now and then, and keeps the number of arenas small (each thread
/// of the NIO loops, the cooperative pool and the blocking workers would otherwise get one).
public enum MemoryReclaim {
    /// Call once at start, before threads allocate.
    public static func limitArenas(_ n: Int32 = 4) { _ = berth_malloc_arena_max(n) }

    /// Returns free heap pages of every arena to the kernel.
    public static func trim() { _ = berth_malloc_trim() }

    /// Trims every `interval` until the task is cancelled.
    public static func every(_ interval: Duration) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            trim()
        }
    }
}
