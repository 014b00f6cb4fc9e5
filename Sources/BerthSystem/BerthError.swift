/// The one error type of Berth. Every layer throws it; the API maps `kind` to an HTTP status
/// in exactly one place (`BerthAPI/ErrorMapping.swift`). `message` is what a Docker client prints.
public struct BerthError: Error, Sendable, CustomStringConvertible, Equatable {
    /// A category of failure, open for new members without breaking callers.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case notFound, invalidArgument, conflict, notModified, notImplemented,
                 unavailable, forbidden, unauthorized, system
        }
        private let value: Value
        public static let notFound = Kind(value: .notFound)
        public static let invalidArgument = Kind(value: .invalidArgument)
        public static let conflict = Kind(value: .conflict)
        public static let notModified = Kind(value: .notModified)
        public static let notImplemented = Kind(value: .notImplemented)
        public static let unavailable = Kind(value: .unavailable)
        public static let forbidden = Kind(value: .forbidden)
        public static let unauthorized = Kind(value: .unauthorized)
        /// Something failed in the operating system or the runtime.
        public static let system = Kind(value: .system)
        public var description: String { "\(value)" }
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    public static func notFound(_ m: String) -> BerthError { .init(.notFound, m) }
    public static func invalid(_ m: String) -> BerthError { .init(.invalidArgument, m) }
    public static func conflict(_ m: String) -> BerthError { .init(.conflict, m) }
    public static func system(_ m: String) -> BerthError { .init(.system, m) }
    public static func notImplemented(_ m: String) -> BerthError { .init(.notImplemented, m) }
    public static func unavailable(_ m: String) -> BerthError { .init(.unavailable, m) }
    public static func unauthorized(_ m: String) -> BerthError { .init(.unauthorized, m) }

    /// Wraps any error as a BerthError, keeping a BerthError as it is.
    public static func wrap(_ error: any Error) -> BerthError {
        if let e = error as? BerthError { return e }
        return .system("\(error)")
    }
}
