#if canImport(Glibc)
import Glibc
#endif
import AsyncHTTPClient
import Crypto
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

    struct Session: Sendable { var endpoint: RegistryConfig.Endpoint; var authorization: String? }
    let session = Mutex<Session?>(nil)

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
                s.authorization = try await authorize(ch, endpoint: ep)
            } else if resp.status.code >= 500 && ep != endpoints.last {
                lastError = RegistryFailure(status: Int(resp.status.code), reason: resp.status.reasonPhrase, body: body)
                continue
            }
            session.withLock { $0 = s }
            return s
        }
        throw lastError
    }

    /// Turns a challenge into an Authorization header value.
    func authorize(_ ch: AuthChallenge, endpoint: RegistryConfig.Endpoint) async throws -> String? {
        switch ch.scheme {
        case "basic":
            guard let basic = credentials?.basicHeader else {
                var f = RegistryFailure(status: 401, reason: "Unauthorized", body: [])
                f.text = "no basic auth credentials"
                throw f
            }
            return basic
        case "bearer":
            if let rt = credentials?.registrytoken, !rt.isEmpty { return "Bearer " + rt }
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
            struct Token: Decodable { var token: String?; var access_token: String? }
            guard let t = try? JSONDecoder().decode(Token.self, from: Data(body)), let tok = t.token ?? t.access_token, !tok.isEmpty else {
                throw RegistryUnreachable(method: "Get", url: realm, reason: "the token server sent no token")
            }
            return "Bearer " + tok
        default:
            return nil
        }
    }

    /// Sends a request to the repository with the session's authorization.
    func send(_ method: HTTPMethod, _ path: String, headers: [(String, String)] = [],
              body: HTTPClientRequest.Body? = nil, absolute: String? = nil) async throws -> HTTPClientResponse {
        let s = try await ensureSession()
        let url = absolute ?? (s.endpoint.base + "/v2/" + repository + path)
        var req = HTTPClientRequest(url: url)
        req.method = method
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        if let a = s.authorization { req.headers.replaceOrAdd(name: "Authorization", value: a) }
        req.headers.replaceOrAdd(name: "User-Agent", value: "berth/0.1")
        if let body { req.body = body }
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

    // MARK: operations

    /// Checks that the registry answers and the credentials are accepted (`docker login`).
    public func verifyLogin() async throws {
        let s = try await ensureSession()
        let url = s.endpoint.base + "/v2/"
        let resp = try await send(.GET, "", absolute: url)
        _ = try? await resp.body.collect(upTo: 1 << 20)
        guard resp.status == .ok else {
            var f = RegistryFailure(status: Int(resp.status.code), reason: resp.status.reasonPhrase, body: [])
            f.text = "login attempt to \(url) failed with status: \(resp.status.code) \(resp.status.reasonPhrase)"
            throw f
        }
    }

    public struct FetchedManifest: Sendable {
        public var bytes: [UInt8]
        public var mediaType: String
        public var digest: String
    }

    /// `GET /v2/<repo>/manifests/<ref>`; the digest is computed, and checked when `ref` is one.
    public func manifest(_ ref: String) async throws -> FetchedManifest {
        let resp = try await send(.GET, "/manifests/" + ref, headers: [("Accept", MediaType.acceptedManifests.joined(separator: ", "))])
        guard resp.status == .ok else { throw await failure(resp) }
        let bytes = Array(buffer: try await resp.body.collect(upTo: 8 << 20))
        let digest = Digest.sha256(bytes)
        if ref.hasPrefix("sha256:") && ref != digest {
            throw RegistryUnreachable(method: "Get", url: baseURL + "/v2/" + repository + "/manifests/" + ref,
                                      reason: "manifest verification failed for digest \(ref)")
        }
        var mt = resp.headers.first(name: "Content-Type") ?? ""
        if let semi = mt.firstIndex(of: ";") { mt = String(mt[..<semi]) }
        let probe = try? JSONDecoder().decode(ManifestProbe.self, from: Data(bytes))
        if let declared = probe?.mediaType, !declared.isEmpty { mt = declared }
        else if !MediaType.isIndex(mt) && !MediaType.isManifest(mt) {
            mt = probe?.manifests != nil ? MediaType.ociIndex : MediaType.ociManifest
        }
        return FetchedManifest(bytes: bytes, mediaType: mt, digest: digest)
    }

    /// Streams a blob; the caller verifies its digest.
    public func blobBody(_ digest: String) async throws -> (body: HTTPClientResponse.Body, length: Int64?) {
        let resp = try await send(.GET, "/blobs/" + digest)
        guard resp.status == .ok else { throw await failure(resp) }
        let len = resp.headers.first(name: "Content-Length").flatMap { Int64($0) }
        return (resp.body, len)
    }

    /// Fetches a small blob (a config) whole and verifies it.
    public func smallBlob(_ digest: String) async throws -> [UInt8] {
        let (body, _) = try await blobBody(digest)
        var buf = ByteBuffer()
        for try await var chunk in body {
            buf.writeBuffer(&chunk)
            if buf.readableBytes > 64 << 20 { throw RegistryUnreachable(method: "Get", url: digest, reason: "config blob too large") }
        }
        let bytes = Array(buffer: buf)
        guard Digest.sha256(bytes) == digest else {
            throw RegistryUnreachable(method: "Get", url: baseURL + "/v2/" + repository + "/blobs/" + digest,
                                      reason: "digest mismatch: the registry sent other content than \(digest)")
        }
        return bytes
    }

    /// Size of a blob the repository has, or nil.
    public func blobSize(_ digest: String) async throws -> Int64? {
        let resp = try await send(.HEAD, "/blobs/" + digest)
        if resp.status == .ok { return resp.headers.first(name: "Content-Length").flatMap { Int64($0) } ?? 0 }
        if resp.status == .notFound { return nil }
        throw await failure(resp)
    }

    /// Asks the registry to link a blob from another repository; false when it starts an upload instead.
    public func mount(_ digest: String, from source: String) async throws -> Bool {
        let q = "?mount=" + digest + "&from=" + (source.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "/-_."))) ?? source)
        let resp = try await send(.POST, "/blobs/uploads/" + q, headers: [("Content-Length", "0")])
        _ = try? await resp.body.collect(upTo: 1 << 16)
        if resp.status == .created { return true }
        if resp.status == .accepted, let loc = resp.headers.first(name: "Location") {
            // Not mountable: cancel the upload it started.
            let del = try? await send(.DELETE, "", absolute: absolute(loc))
            _ = try? await del?.body.collect(upTo: 1 << 16)
            return false
        }
        return false
    }

    static func appendQuery(_ url: String, _ q: String) -> String { url + (url.contains("?") ? "&" : "?") + q }

    /// `PUT /v2/<repo>/manifests/<ref>`; returns the digest the registry reports (or the computed one).
    public func putManifest(_ ref: String, bytes: [UInt8], mediaType: String) async throws -> String {
        let resp = try await send(.PUT, "/manifests/" + ref, headers: [("Content-Type", mediaType), ("Content-Length", String(bytes.count))],
                                  body: .bytes(bytes))
        guard resp.status == .created || resp.status == .ok else { throw await failure(resp) }
        _ = try? await resp.body.collect(upTo: 1 << 16)
        return resp.headers.first(name: "Docker-Content-Digest") ?? Digest.sha256(bytes)
    }
}

// MARK: files

extension RegistryClient {
    /// Streams a blob into `fd` (from its start), hashing as it goes. Fails, leaving the caller to
    /// discard the file, unless the content has exactly `digest`.
    public func download(_ digest: String, to fd: Int32, progress: @Sendable (Int64, Int64?) -> Void) async throws -> Int64 {
        let resp = try await send(.GET, "/blobs/" + digest)
        guard resp.status == .ok else { throw await failure(resp) }
        let total = resp.headers.first(name: "Content-Length").flatMap { Int64($0) }
        guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else {
            throw BerthError.system("truncate download file: \(Syscall.errnoText())")
        }
        var hasher = SHA256Stream()
        var count: Int64 = 0
        do {
            for try await chunk in resp.body {
                try chunk.withUnsafeReadableBytes { p in
                    hasher.update(p)
                    try Syscall.writeAll(fd, p)
                }
                count += Int64(chunk.readableBytes)
                progress(count, total)
            }
        } catch {
            throw RegistryUnreachable(method: "Get", url: baseURL + "/v2/" + repository + "/blobs/" + digest,
                                      reason: Self.describe(error))
        }
        if let total, count != total {
            throw RegistryUnreachable(method: "Get", url: baseURL + "/v2/" + repository + "/blobs/" + digest,
                                      reason: "unexpected EOF after \(count) of \(total) bytes")
        }
        guard hasher.digest == digest else { throw BlobVerificationFailed(digest: digest) }
        return count
    }

    /// Uploads `size` bytes of the file at `path`: one POST for a location, then one PUT with the
    /// content (monolithic), or PATCH chunks of `chunkSize` and a closing PUT.
    public func upload(digest: String, path: String, size: Int64, chunkSize: Int? = nil,
                       progress: @escaping @Sendable (Int64) -> Void) async throws {
        let start = try await send(.POST, "/blobs/uploads/", headers: [("Content-Length", "0")])
        guard start.status == .accepted, var location = start.headers.first(name: "Location") else { throw await failure(start) }
        _ = try? await start.body.collect(upTo: 1 << 16)
        let step = Int64(chunkSize ?? Int.max)
        var offset: Int64 = 0
        if chunkSize != nil {
            while offset < size {
                let n = min(step, size - offset)
                let body = HTTPClientRequest.Body.stream(FileChunks(path: path, offset: offset, length: n, base: offset, progress: progress),
                                                         length: .known(n))
                let resp = try await send(.PATCH, "", headers: [("Content-Type", "application/octet-stream"),
                                                                  ("Content-Range", "\(offset)-\(offset + n - 1)")],
                                          body: body, absolute: absolute(location))
                guard resp.status == .accepted, let next = resp.headers.first(name: "Location") else { throw await failure(resp) }
                _ = try? await resp.body.collect(upTo: 1 << 16)
                location = next
                offset += n
            }
        }
        let rest = size - offset
        let body = HTTPClientRequest.Body.stream(FileChunks(path: path, offset: offset, length: rest, base: offset, progress: progress),
                                                 length: .known(rest))
        let put = try await send(.PUT, "", headers: [("Content-Type", "application/octet-stream")],
                                 body: body, absolute: Self.appendQuery(absolute(location), "digest=" + digest))
        guard put.status == .created else { throw await failure(put) }
        _ = try? await put.body.collect(upTo: 1 << 16)
    }
}

extension RegistryClient {
    /// Uploads a blob as it is produced: one PATCH streaming `chunks` (chunked encoding), then the
    /// closing PUT with the digest, which `digest` gives once the stream has ended.
    public func uploadStreaming(_ chunks: AsyncStream<[UInt8]>, progress: @escaping @Sendable (Int64) -> Void,
                                digest: @Sendable () throws -> String) async throws {
        let start = try await send(.POST, "/blobs/uploads/", headers: [("Content-Length", "0")])
        guard start.status == .accepted, let location = start.headers.first(name: "Location") else { throw await failure(start) }
        _ = try? await start.body.collect(upTo: 1 << 16)
        let counter = SentCounter(progress)
        let body = HTTPClientRequest.Body.stream(chunks.map { c -> ByteBuffer in counter.add(c.count); return ByteBuffer(bytes: c) },
                                                 length: .unknown)
        let patch = try await send(.PATCH, "", headers: [("Content-Type", "application/octet-stream")], body: body,
                                   absolute: absolute(location))
        guard patch.status == .accepted, let next = patch.headers.first(name: "Location") else { throw await failure(patch) }
        _ = try? await patch.body.collect(upTo: 1 << 16)
        let put = try await send(.PUT, "", headers: [("Content-Length", "0")],
                                 absolute: Self.appendQuery(absolute(next), "digest=" + (try digest())))
        guard put.status == .created else { throw await failure(put) }
        _ = try? await put.body.collect(upTo: 1 << 16)
    }
}

/// Running total of bytes sent, reported as it grows.
final class SentCounter: @unchecked Sendable {
    private var total: Int64 = 0
    private let report: @Sendable (Int64) -> Void
    init(_ report: @escaping @Sendable (Int64) -> Void) { self.report = report }
    func add(_ n: Int) { total += Int64(n); report(total) }
}

/// The registry sent bytes that do not hash to the digest asked for.
public struct BlobVerificationFailed: Error, Sendable, CustomStringConvertible {
    public var digest: String
    public var description: String { "filesystem layer verification failed for digest \(digest)" }
}

/// A file range as an async sequence of 1 MiB buffers, for request bodies.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String
    let offset: Int64
    let length: Int64
    let base: Int64
    let progress: @Sendable (Int64) -> Void

    struct AsyncIterator: AsyncIteratorProtocol {
        var fd: Int32 = -1
        let path: String
        var offset: Int64
        var remaining: Int64
        let progress: @Sendable (Int64) -> Void
        var sent: Int64

        mutating func next() async throws -> ByteBuffer? {
            if remaining == 0 { if fd >= 0 { close(fd); fd = -1 }; return nil }
            if fd < 0 {
                fd = open(path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw BerthError.system("open \(path): \(Syscall.errnoText())") }
            }
            let want = Int(Swift.min(remaining, 1 << 20))
            var buf = ByteBufferAllocator().buffer(capacity: want)
            let n = buf.withUnsafeMutableWritableBytes { p in pread(fd, p.baseAddress, want, off_t(offset)) }
            guard n > 0 else { close(fd); fd = -1; throw BerthError.system("read \(path): short file") }
            buf.moveWriterIndex(forwardBy: n)
            offset += Int64(n); remaining -= Int64(n); sent += Int64(n)
            progress(sent)
            return buf
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(path: path, offset: offset, remaining: length, progress: progress, sent: base)
    }
}

/// Incremental sha256 in the `sha256:<hex>` form.
struct SHA256Stream {
    var h = SHA256()
    mutating func update(_ p: UnsafeRawBufferPointer) { h.update(bufferPointer: p) }
    var digest: String { "sha256:" + Digest.hex(h.finalize()) }
}
