#if canImport(Glibc)
import Glibc
#endif
import AsyncHTTPClient
import BerthImage
import BerthModels
import BerthSystem
import Foundation
import NIOCore
import NIOHTTP1

/// Login, manifests, small blobs, existence checks and cross-repository mounts.
extension RegistryClient {

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
        public var digest: Digest
    }

    /// `GET /v2/<repo>/manifests/<ref>`; the digest is computed, and checked when `ref` is one.
    public func manifest(_ ref: String) async throws -> FetchedManifest {
        let resp = try await send(.GET, "/manifests/" + ref, headers: [("Accept", MediaType.acceptedManifests.joined(separator: ", "))])
        guard resp.status == .ok else { throw await failure(resp) }
        let bytes = try await Self.collect(resp, limit: ImageLimits.json, what: "manifest \(ref)")
        let digest = Digest.sha256(bytes)
        if ref.hasPrefix("sha256:") && ref != digest.description {
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

    /// Fetches a small blob (a config) whole and verifies it.
    public func smallBlob(_ digest: Digest) async throws -> [UInt8] {
        let resp = try await send(.GET, "/blobs/" + digest.description)
        guard resp.status == .ok else { throw await failure(resp) }
        let bytes = try await Self.collect(resp, limit: ImageLimits.json, what: "image config \(digest)")
        guard Digest.sha256(bytes) == digest else {
            throw RegistryUnreachable(method: "Get", url: baseURL + "/v2/" + repository + "/blobs/" + digest.description,
                                      reason: "digest mismatch: the registry sent other content than \(digest)")
        }
        return bytes
    }

    /// Size of a blob the repository has, or nil.
    public func blobSize(_ digest: Digest) async throws -> Int64? {
        let resp = try await send(.HEAD, "/blobs/" + digest.description)
        if resp.status == .ok { return resp.headers.first(name: "Content-Length").flatMap { Int64($0) } ?? 0 }
        if resp.status == .notFound { return nil }
        throw await failure(resp)
    }

    /// Asks the registry to link a blob from another repository; false when it starts an upload instead.
    public func mount(_ digest: Digest, from source: String) async throws -> Bool {
        let q = "?mount=" + digest.description + "&from=" + (source.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "/-_."))) ?? source)
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

    /// A whole response body of at most `limit` bytes; a larger one is the registry's fault, said plainly.
    static func collect(_ resp: HTTPClientResponse, limit: Int, what: String) async throws -> [UInt8] {
        do { return Array(buffer: try await resp.body.collect(upTo: limit)) }
        catch is NIOTooManyBytesError { throw BerthError.invalid("the registry's \(what) is larger than \(limit >> 20) MiB") }
    }

    static func appendQuery(_ url: String, _ q: String) -> String { url + (url.contains("?") ? "&" : "?") + q }

    /// `PUT /v2/<repo>/manifests/<ref>`; returns the digest the registry reports (or the computed one).
    public func putManifest(_ ref: String, bytes: [UInt8], mediaType: String) async throws -> Digest {
        let resp = try await send(.PUT, "/manifests/" + ref, headers: [("Content-Type", mediaType), ("Content-Length", String(bytes.count))],
                                  body: .bytes(bytes))
        guard resp.status == .created || resp.status == .ok else { throw await failure(resp) }
        _ = try? await resp.body.collect(upTo: 1 << 16)
        // The registry's header is not trusted to be well-formed; the bytes sent are what count.
        return resp.headers.first(name: "Docker-Content-Digest").flatMap { try? Digest(parsing: $0) } ?? Digest.sha256(bytes)
    }

    /// Every tag of the repository (`GET /v2/<repo>/tags/list`, following `Link` pages).
    public func tags() async throws -> [String] {
        struct Page: Decodable { var tags: [String]? }
        var out: [String] = []
        var next: String? = nil
        repeat {
            let resp = if let next { try await send(.GET, "", absolute: absolute(next)) }
                       else { try await send(.GET, "/tags/list?n=1000") }
            guard resp.status == .ok else { throw await failure(resp) }
            let body = try await Self.collect(resp, limit: 16 << 20, what: "tag list")
            out += (try? JSONDecoder().decode(Page.self, from: Data(body)))?.tags ?? []
            next = resp.headers.first(name: "Link").flatMap { link in
                guard link.contains("rel=\"next\""), let a = link.firstIndex(of: "<"), let b = link.firstIndex(of: ">"), a < b else { return nil }
                return String(link[link.index(after: a)..<b])
            }
        } while next != nil
        return out
    }
}
