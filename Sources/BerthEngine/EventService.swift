import BerthModels
import BerthStore
import BerthSystem
import Foundation
import Synchronization

/// Records lifecycle events in the store and fans them out to live `/events` clients.
/// Each subscriber has a bounded buffer; one that falls behind by more than `bufferLimit`
/// events is ended with `EventsFellBehind` after what it has buffered, so a slow consumer
/// never grows the daemon's memory and never silently misses events.
public final class EventService: Sendable {
    let store: Store
    private let subscribers = Mutex<[UInt64: Subscriber]>([:])
    private let nextID = Atomic<UInt64>(1)
    static let bufferLimit = 1024

    struct Subscriber: Sendable {
        let continuation: AsyncStream<EventMessage>.Continuation
        let overflowed: OverflowFlag
    }

    init(store: Store) { self.store = store }

    public func record(_ type: String, _ action: String, id: String, attributes: [String: String] = [:]) {
        let now = Timestamp.nowNanos()
        let attrs = String(decoding: (try? JSONEncoder().encode(attributes)) ?? Data("{}".utf8), as: UTF8.self)
        _ = try? store.insertEvent(EventRecord(time_nano: now, type: type, action: action, actor_id: id, attributes: attrs))
        let msg = EventMessage(type: type, action: action, actorID: id, attributes: attributes, timeNano: now)
        let subs = subscribers.withLock { $0 }
        for (key, sub) in subs {
            if case .dropped = sub.continuation.yield(msg) {
                sub.overflowed.raise()
                sub.continuation.finish()
                _ = subscribers.withLock { $0.removeValue(forKey: key) }
            }
        }
    }

    /// Past events from the store, then (without `until`) live ones.
    public func stream(since: Int64, until: Int64, filters: Filters) throws -> EventSubscription {
        try filters.validate(["type", "container", "image", "event", "label", "volume", "network", "daemon", "plugin",
                              "node", "service", "secret", "config", "scope"])
        var live: AsyncStream<EventMessage>? = nil
        let key = nextID.add(1, ordering: .relaxed).newValue
        let overflowed = OverflowFlag()
        if until == 0 || until > Timestamp.nowNanos() {
            let (s, c) = AsyncStream.makeStream(of: EventMessage.self, bufferingPolicy: .bufferingOldest(Self.bufferLimit))
            subscribers.withLock { $0[key] = Subscriber(continuation: c, overflowed: overflowed) }
            live = s
        }
        let past = try store.events(since: since, until: until).map { r in
            EventMessage(type: r.type, action: r.action, actorID: r.actor_id,
                         attributes: (try? JSONDecoder().decode([String: String].self, from: Data(r.attributes.utf8))) ?? [:],
                         timeNano: r.time_nano)
        }.filter { Self.matches($0, filters) }
        let deadline: Task<Void, Never>? = live != nil && until > 0 ? Task {
            try? await Task.sleep(for: .nanoseconds(until - Timestamp.nowNanos()))
            self.end(key)
        } : nil
        return EventSubscription(past: past, live: live, filters: filters, until: until, overflowed: overflowed) {
            deadline?.cancel()
            self.end(key)
        }
    }

    func end(_ key: UInt64) {
        if let s = subscribers.withLock({ $0.removeValue(forKey: key) }) { s.continuation.finish() }
    }

    public var listenerCount: Int { subscribers.withLock { $0.count } }

    static func matches(_ e: EventMessage, _ f: Filters) -> Bool {
        if f.has("type") && !f["type"].contains(e.Type) { return false }
        if f.has("event") && !f["event"].contains(where: { $0 == e.Action || e.Action.hasPrefix($0 + ":") }) { return false }
        let name = e.Actor.Attributes["name"] ?? ""
        if f.has("container") {
            guard e.Type == "container", f["container"].contains(where: { e.Actor.ID.hasPrefix($0) || name == $0 }) else { return false }
        }
        if f.has("image") {
            let img = e.Type == "image" ? e.Actor.ID : (e.Actor.Attributes["image"] ?? "")
            guard f["image"].contains(where: { img == $0 || img.hasPrefix($0) || name == $0 }) else { return false }
        }
        if f.has("label") && !Filters.labelsMatch(f["label"], e.Actor.Attributes) { return false }
        return true
    }
}

/// Set when a subscriber's buffer overflowed.
final class OverflowFlag: Sendable {
    private let raised = Atomic<Bool>(false)
    func raise() { raised.store(true, ordering: .releasing) }
    var isRaised: Bool { raised.load(ordering: .acquiring) }
}

/// A subscriber fell behind the events by more than the buffer holds.
public struct EventsFellBehind: Error, CustomStringConvertible {
    public var description: String {
        "this events client fell more than \(EventService.bufferLimit) events behind and was disconnected; reconnect with since= to resume"
    }
}

/// One `/events` client: the past events, then live ones as they come, read directly from the
/// bounded buffer (no relay that could hold more). Ends with `EventsFellBehind` when the buffer
/// overflowed; letting go of it unsubscribes.
public final class EventSubscription: AsyncSequence, Sendable {
    public typealias Element = EventMessage
    let past: [EventMessage]
    let live: AsyncStream<EventMessage>?
    let filters: Filters
    let until: Int64
    let overflowed: OverflowFlag
    let onEnd: @Sendable () -> Void

    init(past: [EventMessage], live: AsyncStream<EventMessage>?, filters: Filters, until: Int64, overflowed: OverflowFlag,
         onEnd: @escaping @Sendable () -> Void) {
        self.past = past; self.live = live; self.filters = filters; self.until = until
        self.overflowed = overflowed; self.onEnd = onEnd
    }

    deinit { onEnd() }

    public func makeAsyncIterator() -> Iterator { Iterator(sub: self, live: live?.makeAsyncIterator()) }

    public struct Iterator: AsyncIteratorProtocol {
        let sub: EventSubscription
        var live: AsyncStream<EventMessage>.Iterator?
        var index = 0

        public mutating func next() async throws -> EventMessage? {
            if index < sub.past.count { index += 1; return sub.past[index - 1] }
            let lastPast = sub.past.last?.timeNano ?? 0
            while live != nil, let e = await live!.next() {
                if e.timeNano <= lastPast || !EventService.matches(e, sub.filters) { continue }
                if sub.until > 0 && e.timeNano > sub.until { break }
                return e
            }
            live = nil
            if sub.overflowed.isRaised { throw EventsFellBehind() }
            return nil
        }
    }
}
