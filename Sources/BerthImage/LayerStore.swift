#if canImport(Glibc)
import Glibc
#endif
import BerthArchive
import BerthModels
import BerthStore
import BerthSystem
import Foundation
import Logging

/// Unpacked layers, shared by every image that has them: `layers/<chain hex>/diff`, with the
/// layer's original tar beside it (`layer.tar`), so `docker save` reproduces the exact diff id.
///
/// A layer is unpacked into `tmp/layer-<chain hex>` and verified against its diff id, then the
/// row is committed, then the directory is renamed into place. `reconcile()` at start-up finishes
/// a rename a crash interrupted and removes directories without rows.
public struct LayerStore: Sendable {
    public let root: String
    let tmp: String
    let store: Store
    /// The most bytes a layer may unpack to (its uncompressed tar), so a small compressed layer
    /// cannot fill the disk (`--max-decompressed-size`).
    public let expansionLimit: Int64
    let log = Log.logger("layers")

    /// Default for `expansionLimit`: 64 GiB.
    public static let defaultExpansionLimit: Int64 = 64 << 30

    public init(dataRoot: String, store: Store, expansionLimit: Int64 = LayerStore.defaultExpansionLimit) throws {
        root = dataRoot + "/layers"
        tmp = dataRoot + "/tmp"
        self.store = store
        self.expansionLimit = expansionLimit
        try FS.mkdirAll(root, mode: 0o700)
        try FS.mkdirAll(tmp, mode: 0o700)
    }

    /// A scratch file name under the data root's tmp (same filesystem; emptied at start-up).
    public func tmpPath(_ name: String) -> String { tmp + "/" + name }

    public func diffPath(_ chainID: Digest) -> String { root + "/" + chainID.hex + "/diff" }

    /// The layer as it arrived (uncompressed tar), for `docker save`.
    public func tarPath(_ chainID: Digest) -> String { root + "/" + chainID.hex + "/layer.tar" }

    /// Unpacks a layer stream unless the chain already exists. The stream must be an uncompressed
    /// tar; it is read through a guard that stops it at `expansionLimit` bytes or when `cancel`
    /// is raised. Loads and pulls of the same layer may run at once: each stages in a directory
    /// of its own, and the first to finish is kept.
    public func ensure<R: ByteReader>(diffID: Digest, parentChain: Digest?, reader: R, cancel: CancelFlag? = nil) throws -> LayerRecord {
        let chain = parentChain.map { Digest.chainIDs([$0, diffID]).last! } ?? diffID
        if let l = try store.layer(chain.description), FS.exists(diffPath(chain)) { return l }
        let hex = chain.hex
        let staging = tmp + "/layer-" + hex + "-" + String(Identifier.random64().prefix(8))
        try FS.mkdirAll(staging + "/diff", mode: 0o755)
        let teeFd = open(staging + "/layer.tar", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard teeFd >= 0 else { throw BerthError.system("create \(staging)/layer.tar: \(Syscall.errnoText())") }
        defer { close(teeFd) }
        do {
            let guarded = GuardedReader(reader, limit: expansionLimit, cancel: cancel, what: "layer \(diffID.short)")
            var hashing = HashingReader(TeeReader(guarded, fd: teeFd))
            var tar = TarReader(hashing)
            let size = try LayerApplier(root: staging + "/diff").apply(&tar)
            hashing = try Self.drain(tar)
            let got = hashing.digest
            guard got == diffID else {
                throw BerthError.invalid("layer digest mismatch: expected \(diffID), got \(got)")
            }
            let rec = LayerRecord(chain_id: chain.description, diff_id: diffID.description,
                                  parent_chain_id: parentChain?.description, size: size,
                                  created: Timestamp.nowNanos())
            try store.insertLayer(rec)
            try finish(hex, staging: staging)
            return (try store.layer(chain.description)) ?? rec
        } catch {
            FS.removeAll(staging)
            throw error
        }
    }

    /// A layer from a directory Berth made itself and gives up (a build's staged files): its
    /// tar is written for the digest (and kept, as every layer's is), and the directory becomes
    /// the layer's files by a rename instead of being unpacked a second time. The caller has
    /// the tar written (`archive`) and knows the chain; a crash between the rename and the row
    /// leaves a staging directory `reconcile` finishes or removes.
    public func adopt(directory dir: String, archive tarPath: String, diffID: Digest, size: Int64, parentChain: Digest?) throws {
        let chain = parentChain.map { Digest.chainIDs([$0, diffID]).last! } ?? diffID
        if try store.layer(chain.description) != nil, FS.exists(diffPath(chain)) { return }
        let hex = chain.hex
        let staging = tmp + "/layer-" + hex + "-" + String(Identifier.random64().prefix(8))
        try FS.mkdirAll(staging, mode: 0o755)
        do {
            guard rename(tarPath, staging + "/layer.tar") == 0, rename(dir, staging + "/diff") == 0 else {
                throw BerthError.system("stage layer \(hex): \(Syscall.errnoText())")
            }
            let rec = LayerRecord(chain_id: chain.description, diff_id: diffID.description,
                                  parent_chain_id: parentChain?.description, size: size, created: Timestamp.nowNanos())
            try store.insertLayer(rec)
            try finish(hex, staging: staging)
        } catch {
            FS.removeAll(staging)
            throw error
        }
    }

    /// Reads whatever follows the end-of-archive blocks so the hash covers the whole stream.
    static func drain<R: ByteReader>(_ tar: TarReader<HashingReader<R>>) throws -> HashingReader<R> {
        var t = tar
        return try t.takeSource()
    }

    /// Moves a verified staging directory into place, unless another unpack of the same layer
    /// got there first.
    func finish(_ hex: String, staging: String) throws {
        let dst = root + "/" + hex
        if FS.exists(dst) { FS.removeAll(staging); return }
        if rename(staging, dst) != 0 {
            if FS.exists(dst) { FS.removeAll(staging); return }
            throw BerthError.system("rename layer \(hex): \(Syscall.errnoText())")
        }
    }

    /// Removes the directories of layers whose rows were deleted.
    public func removeDirectories(_ chainIDs: [Digest]) {
        for c in chainIDs {
            let hex = c.hex
            let trash = tmp + "/trash-" + hex + "-" + String(UInt32.random(in: 0...UInt32.max))
            if rename(root + "/" + hex, trash) == 0 { FS.removeAll(trash) }
        }
    }

    /// Start-up: finish renames, drop layer rows without data, remove directories without rows.
    public func reconcile() throws {
        let rows = try store.allLayers()
        var known = Set<String>()
        for l in rows {
            guard let chain = try? Digest(parsing: l.chain_id) else {
                log.warning("dropping layer row with an invalid chain id")
                try store.deleteLayer(l.chain_id)
                continue
            }
            let hex = chain.hex
            known.insert(hex)
            if !FS.exists(root + "/" + hex) {
                // A row is written only after its staging directory was verified: finish the rename.
                let staged = ((try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? []).first { $0.hasPrefix("layer-" + hex + "-") }
                if let staged { try finish(hex, staging: tmp + "/" + staged) }
                else { log.warning("layer \(hex) has no data; it will be refetched or its images are broken") }
            }
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] where !known.contains(name) {
            log.info("removing unreferenced layer directory \(name)")
            FS.removeAll(root + "/" + name)
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? [] {
            FS.removeAll(tmp + "/" + name)
        }
    }
}

/// Copies everything read through it to a file descriptor.
struct TeeReader<R: ByteReader>: ByteReader {
    var inner: R
    let fd: Int32
    init(_ inner: R, fd: Int32) { self.inner = inner; self.fd = fd }
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try inner.read(into: buffer)
        if n > 0 { try Syscall.writeAll(fd, UnsafeRawBufferPointer(rebasing: buffer[0..<n])) }
        return n
    }
}
