import BerthModels
import BerthSystem
import Foundation
import NIOCore
import NIOHTTP1

/// Version and identity of this server, shown in headers and `/version`.
public enum ServerInfo {
    public static let version = "0.1.0"
}

/// Routes by method and path pattern. `{param}` matches one segment; a greedy route lets its
/// one parameter span several (image names such as `127.0.0.1:5000/acc/bb:1`).
public struct Router: Sendable {
    public typealias Handler = @Sendable (Request) async throws -> Response

    public struct Route: Sendable {
        public let method: HTTPMethod
        public let pattern: String
        let segments: [Substring]
        let greedy: Bool
        let handler: Handler
    }

    public private(set) var routes: [Route] = []

    public init() {}

    public mutating func add(_ method: HTTPMethod, _ pattern: String, greedy: Bool = false, _ handler: @escaping Handler) {
        routes.append(Route(method: method, pattern: pattern, segments: pattern.split(separator: "/"), greedy: greedy, handler: handler))
    }

    /// Matches a path against a route's pattern; returns the parameters.
    static func match(_ route: Route, _ parts: [Substring]) -> [String: String]? {
        let segs = route.segments
        if !route.greedy {
            guard segs.count == parts.count else { return nil }
            var params: [String: String] = [:]
            for (s, p) in zip(segs, parts) {
                if s.hasPrefix("{") { params[String(s.dropFirst().dropLast())] = String(p) } else if s != p { return nil }
            }
            return params
        }
        guard let gi = segs.firstIndex(where: { $0.hasPrefix("{") }), parts.count >= segs.count else { return nil }
        let suffix = segs.count - gi - 1
        for i in 0..<gi where segs[i] != parts[i] { return nil }
        for k in 0..<suffix where segs[segs.count - 1 - k] != parts[parts.count - 1 - k] { return nil }
        let value = parts[gi..<(parts.count - suffix)].joined(separator: "/")
        return value.isEmpty ? nil : [String(segs[gi].dropFirst().dropLast()): value]
    }

    /// Splits `/v1.41/containers/json?all=1` into version, path and query.
    public static func parseTarget(_ uri: String) -> (version: Substring?, path: String, query: [String: [String]]) {
        let q = uri.firstIndex(of: "?")
        var path = String(q.map { uri[..<$0] } ?? Substring(uri))
        var query: [String: [String]] = [:]
        if let q {
            for pair in uri[uri.index(after: q)...].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                func dec(_ s: Substring) -> String {
                    let plus = s.replacingOccurrences(of: "+", with: " ")
                    return plus.removingPercentEncoding ?? plus
                }
                query[dec(kv[0]), default: []].append(kv.count > 1 ? dec(kv[1]) : "")
            }
        }
        path = path.removingPercentEncoding ?? path
        var version: Substring? = nil
        if path.hasPrefix("/v"), let slash = path.dropFirst(2).firstIndex(of: "/") {
            let v = path[path.index(path.startIndex, offsetBy: 2)..<slash]
            if APIVersion(v) != nil { version = v; path = String(path[slash...]) }
        } else if path.hasPrefix("/v"), APIVersion(path.dropFirst(2)) != nil {
            version = path.dropFirst(2); path = "/"
        }
        return (version, path, query)
    }

    public func handle(head: HTTPRequestHead, body: RequestBody) async -> Response {
        let (rawVersion, path, query) = Self.parseTarget(head.uri)
        var version = APIVersion.current
        if let rv = rawVersion, let v = APIVersion(rv) {
            if v < APIVersion.minimum {
                return ErrorMapping.response(BerthError.invalid("client version \(v) is too old. Minimum supported API version is \(APIVersion.minimum), please upgrade your client to a newer version"))
            }
            if v > APIVersion.current {
                return ErrorMapping.response(BerthError.invalid("client version \(v) is too new. Maximum supported API version is \(APIVersion.current)"))
            }
            version = v
        }
        let parts = path.split(separator: "/")
        var pathMatched = false
        for r in routes {
            guard let params = Self.match(r, parts) else { continue }
            pathMatched = true
            let method = head.method == .HEAD && r.method == .GET && !routes.contains(where: { $0.method == .HEAD && $0.pattern == r.pattern }) ? .GET : head.method
            guard r.method == method else { continue }
            var req = Request(method: head.method, path: path, apiVersion: version, query: query, headers: head.headers, body: body)
            req.params = params
            do { return try await r.handler(req) } catch { return ErrorMapping.response(error) }
        }
        if pathMatched {
            return (try? Response.json(ErrorResponse(message: "method not allowed"), status: .methodNotAllowed)) ?? Response(status: .methodNotAllowed)
        }
        return (try? Response.json(ErrorResponse(message: "page not found"), status: .notFound)) ?? Response(status: .notFound)
    }
}
