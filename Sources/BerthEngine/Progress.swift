import BerthModels
import Foundation

/// Writes Docker's JSON progress messages (`status`, `id`, `progress`, `progressDetail`) into a
/// stream the HTTP route drains; the docker CLI draws its progress bars from them.
public struct ProgressSink: Sendable {
    let continuation: AsyncStream<ProgressMessage>.Continuation

    public static func make() -> (ProgressSink, AsyncStream<ProgressMessage>) {
        let (stream, cont) = AsyncStream<ProgressMessage>.makeStream(bufferingPolicy: .bufferingNewest(4096))
        return (ProgressSink(continuation: cont), stream)
    }

    public func status(_ s: String, id: String? = nil) {
        continuation.yield(ProgressMessage(status: s, id: id, progressDetail: id == nil ? nil : .init()))
    }

    public func progress(_ action: String, id: String, current: Int64, total: Int64?) {
        continuation.yield(ProgressMessage(status: action, id: id, progress: Self.bar(current: current, total: total),
                                           progressDetail: .init(current: current, total: total)))
    }

    /// A download's progress without a layer id (a build's ADD of a URL, as dockerd shows it).
    public func downloading(current: Int64, total: Int64?) {
        continuation.yield(ProgressMessage(status: "Downloading", id: nil, progress: Self.bar(current: current, total: total),
                                           progressDetail: .init(current: current, total: total)))
    }

    /// An `aux` message; push writes it with an empty progressDetail, a build without (as dockerd).
    public func aux(_ value: JSONValue, progressDetail: Bool = true) {
        continuation.yield(ProgressMessage(progressDetail: progressDetail ? .init() : nil, aux: value))
    }

    public func stream(_ text: String) { continuation.yield(ProgressMessage(stream: text)) }

    public func error(_ message: String) { continuation.yield(ProgressMessage(error: message)) }

    public func finish() { continuation.finish() }

    /// Runs `body` when the reader stops reading before the stream finished (the client left).
    public func onAbandoned(_ body: @escaping @Sendable () -> Void) {
        continuation.onTermination = { reason in
            if case .cancelled = reason { body() }
        }
    }

    /// `[=====>      ]  1.234MB/5.678MB` as the docker CLI of old printed it.
    static func bar(current: Int64, total: Int64?) -> String {
        guard let total, total > 0 else { return human(current) }
        let filled = Int(min(50, max(0, Double(current) / Double(total) * 50)))
        let bar = "[" + String(repeating: "=", count: filled) + (filled < 50 ? ">" : "")
            + String(repeating: " ", count: max(0, 49 - filled)) + "] "
        return bar + String(repeating: " ", count: max(0, 8 - human(current).count)) + human(current) + "/" + human(total)
    }

    /// Decimal units with four significant digits, like Docker's units.HumanSize.
    static func human(_ n: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB"]
        var v = Double(n), i = 0
        while v >= 1000 && i < units.count - 1 { v /= 1000; i += 1 }
        return String(format: "%.4g", v) + units[i]
    }
}
