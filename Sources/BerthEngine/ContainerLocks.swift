/// Serialises operations on one container (start, stop, remove…) without blocking others, and
/// without blocking readers: inspect and list read the database and never take these locks.
actor ContainerLocks {
    private var held: Set<String> = []
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]

    func acquire(_ id: String) async {
        if !held.contains(id) { held.insert(id); return }
        await withCheckedContinuation { waiters[id, default: []].append($0) }
    }

    func release(_ id: String) {
        if var q = waiters[id], !q.isEmpty {
            let next = q.removeFirst()
            waiters[id] = q.isEmpty ? nil : q
            next.resume()  // ownership passes to the next waiter
        } else {
            held.remove(id)
        }
    }

    func with<T: Sendable>(_ id: String, _ body: @Sendable () async throws -> T) async throws -> T {
        await acquire(id)
        do { let r = try await body(); release(id); return r } catch { release(id); throw error }
    }
}
