#if canImport(Glibc)
import Glibc
#endif
import AsyncHTTPClient
import BerthImage
import BerthModels
import BerthSystem
import struct Crypto.SHA256
import Foundation
import NIOCore
import NIOHTTP1

/// Layer blobs: downloads verified while they stream, uploads (monolithic, or streamed as produced).

extension RegistryClient {
    /// Streams a blob into `fd` (from its start), hashing as it goes. Fails, leaving the caller to
    /// discard the file, unless the content has exactly `digest`.
    public func download(_ digest: Digest, to fd: Int32, progress: @Sendable (Int64, Int64?) -> Void) async throws -> Int64 {
        let resp = try await send(.GET, "/blobs/" + digest.description)
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
            throw RegistryUnreachable(method: "Get", url: baseURL + "/v2/" + repository + "/blobs/" + digest.description,
                                      reason: Self.describe(error))
        }
        if let total, count != total {
            throw RegistryUnreachable(method: "Get", url: baseURL + "/v2/" + repository + "/blobs/" + digest.description,
                                      reason: "unexpected EOF after \(count) of \(total) bytes")
        }
        guard hasher.digest == digest else { throw BlobVerificationFailed(digest: digest) }
        return count
    }

    /// Uploads a small blob (a config) monolithically: one POST for a location, one PUT with it.
    public func upload(digest: Digest, bytes: [UInt8]) async throws {
        let start = try await send(.POST, "/blobs/uploads/", headers: [("Content-Length", "0")])
        guard start.status == .accepted, let location = start.headers.first(name: "Location") else { throw await failure(start) }
        _ = try? await start.body.collect(upTo: 1 << 16)
        let put = try await send(.PUT, "", headers: [("Content-Type", "application/octet-stream"), ("Content-Length", String(bytes.count))],
                                 body: .bytes(bytes), absolute: Self.appendQuery(absolute(location), "digest=" + digest.description))
        guard put.status == .created else { throw await failure(put) }
        _ = try? await put.body.collect(upTo: 1 << 16)
    }
}

extension RegistryClient {
    /// Uploads a blob as it is produced: one PATCH streaming `chunks` (chunked encoding), then the
    /// closing PUT with the digest, which `digest` gives once the stream has ended.
    public func uploadStreaming<Chunks: AsyncSequence & Sendable>(_ chunks: Chunks, progress: @escaping @Sendable (Int64) -> Void,
                                digest: @Sendable () throws -> Digest) async throws where Chunks.Element == [UInt8] {
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
                                 absolute: Self.appendQuery(absolute(next), "digest=" + (try digest()).description))
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
    public var digest: Digest
    public var description: String { "filesystem layer verification failed for digest \(digest)" }
}

/// Incremental sha256 in the `sha256:<hex>` form.
struct SHA256Stream {
    var h = SHA256()
    mutating func update(_ p: UnsafeRawBufferPointer) { h.update(bufferPointer: p) }
    var digest: Digest { Digest(h.finalize()) }
}
