#if canImport(Glibc)
import Glibc
#endif
import AsyncHTTPClient
import BerthImage
import BerthSystem
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// Speaks the distribution protocol to one repository of one registry, for one pull or push.
///
/// The first call pings `/v2/` on each endpoint in turn (HTTPS, then plain HTTP where the registry
/// is insecure), keeps the first that answers, and answers its challenge: basic credentials, or a
/// bearer token for `scopes` from the challenge's realm. Redirects are followed by hand so that
/// credentials never travel to another host (blob storage).
public final class RegistryClient: Sendable {
    public let domain: String
    public let repository: String
    let endpoints: [RegistryConfig.Endpoint]
    let credentials: AuthConfig?
    let scopes: [String]
    let log = Log.logger("registry")

    /// The endpoint in use, the Authorization header, and for a bearer token the challenge it
    /// answered and when to fetch the next one.
    struct Session: Sendable {
        var endpoint: RegistryConfig.Endpoint
        var authorization: String?
        var challenge: AuthChallenge?
        var renewAt: ContinuousClock.Instant?

        /// A bearer token is fetched again before it runs out, so no request (a streamed upload
        /// above all, which cannot be sent twice) sets out with one that expires on the way.
        func needsRenewal(at now: ContinuousClock.Instant) -> Bool { challenge != nil && renewAt.map { now >= $0 } == true }

        mutating func authorized(_ a: Authorization, by ch: AuthChallenge, at now: ContinuousClock.Instant) {
            authorization = a.header
            challenge = a.lifetime == nil ? nil : ch
            // Renewed with half its life or 30 s left, whichever is less.
            renewAt = a.lifetime.map { now + $0 - min(.seconds(30), $0 / 2) }
        }
    }
    let session = Mutex<Session?>(nil)

    /// What answering a challenge gives: the header, and a bearer token's lifetime.
    struct Authorization: Sendable { var header: String?; var lifetime: Duration? = nil }

    public init(config: RegistryConfig, domain: String, repository: String, credentials: AuthConfig?,
                actions: [String], extraScopes: [String] = [], forPush: Bool = false) {
        self.domain = domain
        self.repository = repository
        self.endpoints = config.endpoints(for: domain, forPush: forPush)
        self.credentials = credentials
        self.scopes = (repository.isEmpty ? [] : ["repository:\(repository):\(actions.joined(separator: ","))"]) + extraScopes
    }

    /// The endpoint in use (after the first request), e.g. for messages.
    public var baseURL: String { session.withLock { $0?.endpoint.base } ?? endpoints.first?.base ?? "" }

    // MARK: HTTP

    static let verified = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration(skipVerify: false))
    static let unverified = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration(skipVerify: true))

    static func configuration(skipVerify: Bool) -> HTTPClient.Configuration {
        var c = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(15), read: .seconds(120)))
        if skipVerify {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            c.tlsConfiguration = tls
        }
        c.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 8)
        // A refused or non-TLS endpoint must fail at once so the next one (plain HTTP) is tried;
        // retrying until the connect timeout would make every insecure registry slow.
        c.connectionPool.retryConnectionEstablishment = false
        return c
    }

    static let farDeadline = NIODeadline.now() + .hours(24 * 365)

    /// Sends one request (following redirects for GET/HEAD), without authentication handling.
    func execute(_ request: HTTPClientRequest, skipVerify: Bool) async throws -> HTTPClientResponse {
        let client = skipVerify ? Self.unverified : Self.verified
        var req = request
        for _ in 0..<10 {
            let resp: HTTPClientResponse
            do { resp = try await client.execute(req, deadline: Self.farDeadline) }
            catch { throw RegistryUnreachable(method: Self.methodName(req.method), url: req.url, reason: Self.describe(error)) }
            guard [301, 302, 303, 307, 308].contains(Int(resp.status.code)), req.method == .GET || req.method == .HEAD,
                  let loc = resp.headers.first(name: "Location"),
                  let target = URL(string: loc, relativeTo: URL(string: req.url))?.absoluteURL else { return resp }
            _ = try? await resp.body.collect(upTo: 1 << 16)
            let fromHost = URL(string: req.url)?.host
            var next = HTTPClientRequest(url: target.absoluteString)
            next.method = req.method
            next.headers = req.headers
            if target.host != fromHost { next.headers.remove(name: "Authorization") }
            req = next
        }
        throw RegistryUnreachable(method: Self.methodName(req.method), url: req.url, reason: "stopped after 10 redirects")
    }

    static func methodName(_ m: HTTPMethod) -> String {
        switch m {
        case .GET: "Get"
        case .HEAD: "Head"
        case .POST: "Post"
        case .PUT: "Put"
        case .PATCH: "Patch"
        case .DELETE: "Delete"
        default: "\(m)"
        }
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? HTTPClientError {
            switch e {
            case .connectTimeout: return "dial tcp: i/o timeout"
            case .readTimeout: return "read: i/o timeout"
            case .remoteConnectionClosed: return "connection closed by the registry"
            default: return "\(e)"
            }
        }
        let s = String(describing: error)
        if s.contains("UnknownHost"), let r = s.range(of: "for host "), let end = s[r.upperBound...].firstIndex(of: ",") {
            return "dial tcp: lookup \(s[r.upperBound..<end]): no such host"
        }
        if s.lowercased().contains("connection refused") { return "dial tcp: connect: connection refused" }
        return s
    }

    // MARK: session

    /// Finds a working endpoint and authenticates against it. Called once; later calls reuse it.
    func ensureSession() async throws -> Session {
        if let s = session.withLock({ $0 }) { return s }
        var lastError: any Error = RegistryUnreachable(method: "Get", url: "", reason: "no endpoint")
        for ep in endpoints {
            var req = HTTPClientRequest(url: ep.base + "/v2/")
            req.method = .GET
            let resp: HTTPClientResponse
            do { resp = try await execute(req, skipVerify: ep.skipVerify) }
            catch { lastError = error; continue }
            let body = Array(buffer: try await resp.body.collect(upTo: 1 << 20))
            var s = Session(endpoint: ep, authorization: nil)
            if resp.status == .unauthorized {
                guard let header = resp.headers.first(name: "WWW-Authenticate"), let ch = AuthChallenge(header: header) else {
                    throw RegistryFailure(status: 401, reason: "Unauthorized", body: body)
                }
                s.authorized(try await authorize(ch, endpoint: ep), by: ch, at: .now)
            } else if resp.status.code >= 500 && ep != endpoints.last {
                lastError = RegistryFailure(status: Int(resp.status.code), reason: resp.status.reasonPhrase, body: body)
                continue
            }
            session.withLock { $0 = s }
            return s
        }
        throw lastError
    }

    /// Turns a challenge into an Authorization header value (and a bearer token's lifetime).
    func authorize(_ ch: AuthChallenge, endpoint: RegistryConfig.Endpoint) async throws -> Authorization {
        switch ch.scheme {
        case "basic":
            guard let basic = credentials?.basicHeader else {
                var f = RegistryFailure(status: 401, reason: "Unauthorized", body: [])
                f.text = "no basic auth credentials"
                throw f
            }
            return Authorization(header: basic)
        case "bearer":
            if let rt = credentials?.registrytoken, !rt.isEmpty { return Authorization(header: "Bearer " + rt) }
            guard let realm = ch.parameters["realm"], var comps = URLComponents(string: realm) else {
                throw RegistryUnreachable(method: "Get", url: endpoint.base + "/v2/", reason: "bearer challenge without a realm")
            }
            var items = comps.queryItems ?? []
            if let service = ch.parameters["service"] { items.append(URLQueryItem(name: "service", value: service)) }
            for s in scopes { items.append(URLQueryItem(name: "scope", value: s)) }
            if let u = credentials?.username, !u.isEmpty { items.append(URLQueryItem(name: "account", value: u)) }
            comps.queryItems = items
            guard let url = comps.url?.absoluteString else { throw RegistryUnreachable(method: "Get", url: realm, reason: "bad realm") }
            var req = HTTPClientRequest(url: url)
            if let id = credentials?.identitytoken, !id.isEmpty {
                // OAuth2 refresh-token grant, as the docker CLI's identity tokens need.
                req = HTTPClientRequest(url: realm)
                req.method = .POST
                req.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                var form = URLComponents()
                form.queryItems = [URLQueryItem(name: "grant_type", value: "refresh_token"),
                                   URLQueryItem(name: "refresh_token", value: id),
                                   URLQueryItem(name: "client_id", value: "berth"),
                                   URLQueryItem(name: "service", value: ch.parameters["service"] ?? ""),
                                   URLQueryItem(name: "scope", value: scopes.joined(separator: " "))]
                req.body = .bytes(ByteBuffer(string: form.percentEncodedQuery ?? ""))
            } else if let basic = credentials?.basicHeader {
                req.headers.add(name: "Authorization", value: basic)
            }
            let tokenSkipVerify = realm.hasPrefix("http://") || endpoint.skipVerify
            let resp = try await execute(req, skipVerify: tokenSkipVerify)
            let body = Array(buffer: try await resp.body.collect(upTo: 1 << 20))
            guard resp.status == .ok else {
                var f = RegistryFailure(status: Int(resp.status.code), reason: resp.status.reasonPhrase, body: body)
                if f.status == 401 && f.codes.isEmpty { f.text = "unauthorized: incorrect username or password" }
                throw f
            }
            struct Token: Decodable { var token: String?; var access_token: String?; var expires_in: Int? }
            guard let t = try? JSONDecoder().decode(Token.self, from: Data(body)), let tok = t.token ?? t.access_token, !tok.isEmpty else {
                throw RegistryUnreachable(method: "Get", url: realm, reason: "the token server sent no token")
            }
            // The distribution spec's default when the server does not say.
            return Authorization(header: "Bearer " + tok, lifetime: .seconds(max(t.expires_in ?? 60, 1)))
        default:
            return Authorization(header: nil)
        }
    }

    /// Fetches a new bearer token for the session's challenge.
    func renew(_ ch: AuthChallenge, _ s: Session) async throws -> Session {
        var renewed = s
        renewed.authorized(try await authorize(ch, endpoint: s.endpoint), by: ch, at: .now)
        session.withLock { $0 = renewed }
        return renewed
    }

    /// Sends a request to the repository with the session's authorization.
    func send(_ method: HTTPMethod, _ path: String, headers: [(String, String)] = [],
              body: HTTPClientRequest.Body? = nil, absolute: String? = nil) async throws -> HTTPClientResponse {
        var s = try await ensureSession()
        if s.needsRenewal(at: .now), let ch = s.challenge { s = try await renew(ch, s) }
        let url = absolute ?? (s.endpoint.base + "/v2/" + repository + path)
        var req = HTTPClientRequest(url: url)
        req.method = method
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        if let a = s.authorization { req.headers.replaceOrAdd(name: "Authorization", value: a) }
        req.headers.replaceOrAdd(name: "User-Agent", value: "berth/0.1")
        if let body { req.body = body }
        let resp = try await execute(req, skipVerify: s.endpoint.skipVerify)
        // A bearer token refused all the same (revoked, or a clock apart): fetch a new one and
        // send again, when there is no streamed body that was already spent.
        guard resp.status == .unauthorized, body == nil, s.authorization?.hasPrefix("Bearer ") == true,
              let header = resp.headers.first(name: "WWW-Authenticate"), let ch = AuthChallenge(header: header),
              ch.scheme == "bearer" else { return resp }
        _ = try? await resp.body.collect(upTo: 1 << 16)
        s = try await renew(ch, s)
        if let a = s.authorization { req.headers.replaceOrAdd(name: "Authorization", value: a) }
        return try await execute(req, skipVerify: s.endpoint.skipVerify)
    }

    func failure(_ resp: HTTPClientResponse) async -> RegistryFailure {
        let body = (try? await resp.body.collect(upTo: 1 << 20)).map { Array(buffer: $0) } ?? []
        return RegistryFailure(status: Int(resp.status.code), reason: resp.status.reasonPhrase, body: body)
    }

    /// Resolves a location header against the endpoint.
    func absolute(_ location: String) -> String {
        if location.hasPrefix("http://") || location.hasPrefix("https://") { return location }
        return baseURL + (location.hasPrefix("/") ? "" : "/") + location
    }
}
