import BerthModels
import BerthStore
import BerthSystem
import Foundation
import Synchronization

/// Records lifecycle events in the store and fans them out to live `/events` clients.
/// Each subscriber has a bounded buffer; one that falls behind is disconnected, so a slow
/// consumer never grows the daemon's memory.
public final class EventService: Sendable {
    let store: Store
    private let subscribers = Mutex<[UInt64: AsyncStream<EventMessage>.Continuation]>([:])
    private let nextID = Atomic<UInt64>(1)
    static let bufferLimit = 1024

    init(store: Store) { self.store = store }

    public func record(_ type: String, _ action: String, id: String, attributes: [String: String] = [:]) {
        let now = Timestamp.nowNanos()
        let attrs = String(decoding: (try? JSONEncoder().encode(attributes)) ?? Data("{}".utf8), as: UTF8.self)
        _ = try? store.insertEvent(EventRecord(time_nano: now, type: type, action: action, actor_id: id, attributes: attrs))
        let msg = EventMessage(type: type, action: action, actorID: id, attributes: attributes, timeNano: now)
        let subs = subscribers.withLock { $0 }
        for (key, c) in subs {
            if case .dropped = c.yield(msg) {
                c.finish()
                _ = subscribers.withLock { $0.removeValue(forKey: key) }
            }
        }
    }

    /// Past events from the store, then (without `until`) live ones.
    public func stream(since: Int64, until: Int64, filters: Filters) throws -> AsyncStream<EventMessage> {
        try filters.validate(["type", "container", "image", "event", "label", "volume", "network", "daemon", "plugin",
                              "node", "service", "secret", "config", "scope"])
        let live: AsyncStream<EventMessage>?
        let key = nextID.add(1, ordering: .relaxed).newValue
        if until == 0 || until > Timestamp.nowNanos() {
            let (s, c) = AsyncStream.makeStream(of: EventMessage.self, bufferingPolicy: .bufferingOldest(Self.bufferLimit))
            subscribers.withLock { $0[key] = c }
            live = s
        } else {
            live = nil
        }
        let past = try store.events(since: since, until: until).map { r in
            EventMessage(type: r.type, action: r.action, actorID: r.actor_id,
                         attributes: (try? JSONDecoder().decode([String: String].self, from: Data(r.attributes.utf8))) ?? [:],
                         timeNano: r.time_nano)
        }
        let lastPast = past.last?.timeNano ?? 0
        return AsyncStream { cont in
            let task = Task {
                for e in past where Self.matches(e, filters) { cont.yield(e) }
                if let live {
                    let deadline: Task<Void, Never>? = until > 0 ? Task {
                        try? await Task.sleep(for: .nanoseconds(until - Timestamp.nowNanos()))
                        self.end(key)
                    } : nil
                    for await e in live where e.timeNano > lastPast && Self.matches(e, filters) {
                        if until > 0 && e.timeNano > until { break }
                        cont.yield(e)
                    }
                    deadline?.cancel()
                }
                cont.finish()
            }
            cont.onTermination = { _ in
                task.cancel()
                self.end(key)
            }
        }
    }

    func end(_ key: UInt64) {
        if let c = subscribers.withLock({ $0.removeValue(forKey: key) }) { c.finish() }
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
