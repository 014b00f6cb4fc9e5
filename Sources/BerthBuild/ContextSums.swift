#if canImport(Glibc)
import Glibc
#endif
import BerthArchive
import BerthExecutor
import CBerthSys
import BerthImage
import BerthModels
import BerthSystem
import Foundation
import Synchronization

/// Checksums of build-context files as dockerd's classic builder makes them (tarsum version 1):
/// per entry, SHA-256 over the header's fields — name, mode, uid, gid, size, typeflag, linkname,
/// uname, gname, devmajor, devminor, then the sorted xattrs; never the mtime — followed by the
/// file's bytes. They name what a COPY or ADD took (`COPY file:<sum> in /dest` in the history)
/// and key its cache, so a step is reused when the files are the same, on this host or, through
/// `--cache-from`, another engine's image.
///
/// A tar context's headers are kept as it is unpacked (uname and gname left out, as dockerd does
/// there) and a file's sum is made when a step first needs it, from that header and the file's
/// bytes as unpacked (a context nothing copies costs no hashing); files that came otherwise (a
/// git checkout, a download, an image's files) are summed from what `lstat` says, as dockerd
/// sums them.
public final class ContextSums: Sendable {
    let sums = Mutex<[String: String]>([:])
    /// From the archive: each entry's encoded header, and whether its data (a regular file's
    /// bytes, not a hard link's) is part of its sum.
    let headers = Mutex<[String: (header: [UInt8], data: Bool)]>([:])
    /// Whether sums missing from the archive are computed from the files themselves.
    let lazy: Bool
    /// More entries than `maxRecorded`: the rest are summed from the files (bounded memory).
    let overflowed = Mutex(false)
    /// How many archive headers are kept (a context of millions of tiny files must not bloat
    /// berthd; past this, sums are made from lstat, still exact for this engine's own cache).
    let maxRecorded: Int
    /// Whether user and group names are left out (tar contexts and git checkouts), or looked up
    /// on this host (downloads and image files, as Go's archive package fills them).
    let blankNames: Bool

    public init(lazy: Bool, blankNames: Bool = true, maxRecorded: Int = 250_000) {
        self.lazy = lazy
        self.maxRecorded = maxRecorded
        self.blankNames = blankNames
    }

    /// An observer that sums a tar context while it is extracted.
    public func summer() -> any TarEntryObserver { Summer(self) }

    /// The sum of the context entry at `rel` (relative to `root`, a link followed inside it), or
    /// dockerd's stand-in (the path itself) when there is none.
    public func hash(root: String, _ rel: String) -> String {
        hash(root: root, resolved: Self.resolve(root: root, rel), asked: rel)
    }

    /// The sum of an entry whose path has no link in it (`asked`: what to stand in with).
    func hash(root: String, resolved: String, asked: String) -> String {
        let rel = asked
        if let s = sums.withLock({ $0[resolved] }) { return s }
        if let h = headers.withLock({ $0[resolved] }) {
            var hasher = HashingWriter(DiscardingWriter())
            h.header.withUnsafeBytes { try? hasher.write($0) }
            if h.data { Self.hashContent(root + "/" + resolved, into: &hasher) }
            let s = hasher.digest.hex
            sums.withLock { $0[resolved] = s }
            return s
        }
        guard lazy || overflowed.withLock({ $0 }) else { return rel }
        guard let s = Self.fileSum(root: root, resolved, blankNames: blankNames) else { return resolved }
        sums.withLock { $0[resolved] = s }
        return s
    }

    /// What a COPY source is called in the history and the cache: `file:<sum>`, or for a
    /// directory `dir:` and the SHA-256 of the sorted sums of everything in it (itself included,
    /// unless it is the context's root).
    public func sourceHash(root: String, _ rel: String) -> String {
        let resolved = Self.resolve(root: root, rel)
        guard FS.isDirectory(root + "/" + resolved) else { return "file:" + hash(root: root, rel) }
        var subs: [String] = []
        if !resolved.isEmpty { subs.append(hash(root: root, resolved)) }
        let base = resolved.isEmpty ? "" : resolved + "/"
        let e = FileManager.default.enumerator(atPath: root + "/" + resolved)
        // The walk is below a resolved directory and follows no link: only a link itself needs
        // resolving (dockerd sums what it points to).
        var st = stat()
        while let p = e?.nextObject() as? String {
            let path = base + p
            if lstat(root + "/" + path, &st) == 0 && st.st_mode & S_IFMT != S_IFLNK {
                subs.append(hash(root: root, resolved: path, asked: path))
            } else {
                subs.append(hash(root: root, path))
            }
        }
        return Self.hashList("dir", subs.sorted())
    }

    /// `prefix:` and the SHA-256 of the strings joined with commas (dockerd's `hashStringSlice`).
    public static func hashList(_ prefix: String, _ list: [String]) -> String {
        prefix + ":" + Digest.sha256(Array(list.joined(separator: ",").utf8)).hex
    }

    /// `rel` with links followed, staying inside `root` (a context cannot point outside itself);
    /// the cleaned path when it cannot be opened (a dangling link).
    static func resolve(root: String, _ rel: String) -> String {
        let clean = cleanArchivePath(rel, clamp: true) ?? ""
        guard !clean.isEmpty else { return clean }
        return ContainerFiles.resolvedInside(root: root, clean) ?? clean
    }

    /// A file's sum from what lstat says (Go's `FileInfoHeader`: the mode with its type bits,
    /// size for regular files only, the link target, device numbers), then its content.
    static func fileSum(root: String, _ rel: String, blankNames: Bool) -> String? {
        let path = root + "/" + rel
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        var h = Header(name: rel, mode: Int64(st.st_mode), uid: Int(st.st_uid), gid: Int(st.st_gid))
        switch st.st_mode & S_IFMT {
        case S_IFREG: h.typeflag = UInt8(ascii: "0"); h.size = Int64(st.st_size)
        case S_IFDIR: h.typeflag = UInt8(ascii: "5"); if !h.name.hasSuffix("/") { h.name += "/" }
        case S_IFLNK: h.typeflag = UInt8(ascii: "2"); h.linkname = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? ""
        case S_IFCHR, S_IFBLK:
            h.typeflag = UInt8(ascii: st.st_mode & S_IFMT == S_IFCHR ? "3" : "4")
            h.devmajor = Int64(berth_major(UInt64(st.st_rdev))); h.devminor = Int64(berth_minor(UInt64(st.st_rdev)))
        case S_IFIFO: h.typeflag = UInt8(ascii: "6")
        default: return nil   // sockets: Go's archive package refuses them
        }
        if !blankNames { h.uname = userName(st.st_uid); h.gname = groupName(st.st_gid) }
        var hasher = HashingWriter(DiscardingWriter())
        h.encoded.withUnsafeBytes { try? hasher.write($0) }
        if st.st_mode & S_IFMT == S_IFREG && st.st_size > 0 { hashContent(path, into: &hasher) }
        return hasher.digest.hex
    }

    /// A regular file's bytes into `hasher` (never a link followed, never a FIFO waited on).
    static func hashContent(_ path: String, into hasher: inout HashingWriter<DiscardingWriter>) {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return }
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = read(fd, &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            buf.withUnsafeBytes { try? hasher.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }

    static func userName(_ uid: uid_t) -> String {
        var pw = passwd(), result: UnsafeMutablePointer<passwd>? = nil
        var buf = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &pw, &buf, buf.count, &result) == 0, result != nil, let n = pw.pw_name else { return "" }
        return String(cString: n)
    }

    static func groupName(_ gid: gid_t) -> String {
        var gr = group(), result: UnsafeMutablePointer<group>? = nil
        var buf = [CChar](repeating: 0, count: 4096)
        guard getgrgid_r(gid, &gr, &buf, buf.count, &result) == 0, result != nil, let n = gr.gr_name else { return "" }
        return String(cString: n)
    }

    /// The header fields tarsum version 1 hashes, in its order.
    struct Header {
        var name: String
        var mode: Int64
        var uid: Int
        var gid: Int
        var size: Int64 = 0
        var typeflag: UInt8 = UInt8(ascii: "0")
        var linkname = ""
        var uname = ""
        var gname = ""
        var devmajor: Int64 = 0
        var devminor: Int64 = 0
        var xattrs: [String: [UInt8]] = [:]

        var encoded: [UInt8] {
            var out: [UInt8] = []
            func add(_ k: String, _ v: String) { out += Array(k.utf8); out += Array(v.utf8) }
            add("name", name); add("mode", String(mode)); add("uid", String(uid)); add("gid", String(gid))
            add("size", String(size))
            out += Array("typeflag".utf8); out.append(typeflag)
            add("linkname", linkname); add("uname", uname); add("gname", gname)
            add("devmajor", String(devmajor)); add("devminor", String(devminor))
            for k in xattrs.keys.sorted() { out += Array(k.utf8); out += xattrs[k] ?? [] }
            return out
        }
    }

    /// Keeps each entry's header as the context is unpacked, under its cleaned path (the first
    /// entry of a name wins, as dockerd's lookup finds the first).
    final class Summer: TarEntryObserver {
        let owner: ContextSums
        var found: [String: (header: [UInt8], data: Bool)] = [:]

        init(_ owner: ContextSums) { self.owner = owner }

        func entry(_ e: TarEntry) {
            guard found.count < owner.maxRecorded else { owner.overflowed.withLock { $0 = true }; return }
            var h = Header(name: e.name, mode: e.headerMode ?? Int64(e.mode), uid: e.uid, gid: e.gid)
            h.size = e.size
            h.typeflag = e.typeFlag
            h.linkname = e.linkName
            h.devmajor = Int64(e.devMajor); h.devminor = Int64(e.devMinor)
            h.xattrs = e.xattrs
            let path = cleanArchivePath(e.name, clamp: true) ?? ""
            if found[path] == nil { found[path] = (h.encoded, e.kind == .file) }
        }

        func finish() {
            let found = self.found
            owner.headers.withLock { $0.merge(found) { old, _ in old } }
        }
    }
}
