import BerthModels
import BerthSystem
import Foundation
import NIOCore
import NIOHTTP1

/// An incoming API request, after the `/v1.NN` prefix is taken off.
public struct Request: Sendable {
    public let method: HTTPMethod
    /// Path without the version prefix and without the query.
    public let path: String
    /// The API version the client asked for (the prefix), or the server's own when absent.
    public let apiVersion: APIVersion
    public let query: [String: [String]]
    public let headers: HTTPHeaders
    public let body: RequestBody
    public var params: [String: String] = [:]

    public func q(_ key: String) -> String? { query[key]?.last }
    public func param(_ key: String) -> String { params[key] ?? "" }

    /// Docker's boolean query values: `1`, `true`, `True`; absent or `0`/`false` is false.
    public func flag(_ key: String, default absent: Bool = false) -> Bool {
        guard let v = q(key)?.lowercased() else { return absent }
        return !(v.isEmpty || v == "0" || v == "false" || v == "no")
    }

    public func int(_ key: String) throws -> Int? {
        guard let v = q(key), !v.isEmpty else { return nil }
        guard let n = Int(v) else { throw BerthError.invalid("invalid value for \(key): \(v)") }
        return n
    }

    /// Decodes a JSON body; an empty body decodes as `empty` when given.
    public func json<T: Decodable>(_ type: T.Type, empty: T? = nil) async throws -> T {
        let data = try await body.collect(limit: 16 << 20)
        if data.isEmpty || data.allSatisfy({ $0 == 0x20 || $0 == 0x0a || $0 == 0x0d }) {
            if let empty { return empty }
            throw BerthError.invalid("request body is empty")
        }
        do { return try JSONDecoder().decode(T.self, from: Data(data)) }
        catch let e as DecodingError { throw BerthError.invalid(Self.describe(e)) }
        catch { throw BerthError.invalid("invalid JSON: \(error)") }
    }

    static func describe(_ e: DecodingError) -> String {
        switch e {
        case .dataCorrupted(let c):
            return "invalid JSON: " + ((c.underlyingError as NSError?)?.localizedDescription ?? c.debugDescription)
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .keyNotFound(_, let c):
            let path = c.codingPath.map(\.stringValue).joined(separator: ".")
            return "invalid JSON at \(path.isEmpty ? "top level" : path): \(c.debugDescription)"
        @unknown default: return "invalid JSON"
        }
    }
}

/// `1.41`-style versions, compared numerically.
public struct APIVersion: Comparable, Sendable, CustomStringConvertible {
    public let major: Int
    public let minor: Int
    public init(major: Int, minor: Int) { self.major = major; self.minor = minor }
    public init?(_ s: some StringProtocol) {
        let p = s.split(separator: ".")
        guard p.count == 2, let a = Int(p[0]), let b = Int(p[1]) else { return nil }
        major = a; minor = b
    }
    public static func < (l: APIVersion, r: APIVersion) -> Bool { (l.major, l.minor) < (r.major, r.minor) }
    public var description: String { "\(major).\(minor)" }
    public static let current = APIVersion(major: 1, minor: 47)
    public static let minimum = APIVersion(major: 1, minor: 24)
}

/// What a route answers.
public struct Response: Sendable {
    public enum Body: Sendable {
        case none
        case bytes([UInt8])
        /// Headers go out at once; the closure writes the body in chunks.
        case stream(@Sendable (ResponseWriter) async throws -> Void)
        /// The connection leaves HTTP (attach, exec start).
        case hijack(@Sendable (HijackedStream) async -> Void)
    }
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: Body

    public init(status: HTTPResponseStatus = .ok, headers: HTTPHeaders = [:], body: Body = .none) {
        self.status = status; self.headers = headers; self.body = body
    }

    /// Keys in a fixed order (sorted): this platform's encoder would otherwise give them in a
    /// different order on every answer.
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    /// A JSON body, newline-terminated as dockerd writes it.
    public static func json<T: Encodable>(_ value: T, status: HTTPResponseStatus = .ok) throws -> Response {
        var bytes = Array(try encoder.encode(value))
        bytes.append(0x0a)
        return Response(status: status, headers: ["Content-Type": "application/json"], body: .bytes(bytes))
    }

    public static func text(_ s: String, status: HTTPResponseStatus = .ok) -> Response {
        Response(status: status, headers: ["Content-Type": "text/plain; charset=utf-8"], body: .bytes(Array(s.utf8)))
    }

    public static func noContent() -> Response { Response(status: .noContent) }

    /// A stream of JSON objects, one per line, whose source may fail: then the response is cut
    /// off (no final chunk), so the client sees an error instead of a normal end.
    public static func jsonLines<S: AsyncSequence & Sendable>(throwing items: S) -> Response where S.Element: Encodable {
        Response(headers: ["Content-Type": "application/json"], body: .stream { w in
            do {
                for try await item in items {
                    var line = Array(try encoder.encode(item))
                    line.append(0x0a)
                    try await w.write(line)
                }
            } catch let e as CancellationError {
                throw e
            } catch {
                throw StreamAborted(reason: "\(error)")
            }
        })
    }

    /// A stream of JSON objects, one per line (events, stats, progress).
    public static func jsonLines<T: Encodable & Sendable>(_ items: AsyncStream<T>) -> Response {
        Response(headers: ["Content-Type": "application/json"], body: .stream { w in
            for await item in items {
                var line = Array(try encoder.encode(item))
                line.append(0x0a)
                try await w.write(line)
            }
        })
    }
}

/// Thrown by a stream body to end the response abnormally: the connection is closed without
/// the final chunk.
public struct StreamAborted: Error { public let reason: String }

/// Writes a streamed response body.
public protocol ResponseWriter: Sendable {
    func write(_ bytes: [UInt8]) async throws
}

/// A connection taken over after `101 UPGRADED`: raw bytes both ways.
public protocol HijackedStream: Sendable {
    /// What the client sends (stdin); ends when the client half-closes or disconnects.
    var input: HijackInput { get }
    func write(_ bytes: [UInt8]) async throws
    /// Half-closes our side; the client sees EOF.
    func closeWrite() async
    func close() async
}
