#if canImport(Glibc)
import Glibc
#endif
import BerthArchive
import BerthSystem

/// The table of contents of a tar file on disk: where each member's data lies, so layers can be
/// read in place (no copy) once the manifest, which may come last, is known.
public struct ArchiveIndex: Sendable {
    struct Member: Sendable { let offset: Int64; let size: Int64; let link: String? }
    let fd: Int32
    private(set) var members: [String: Member] = [:]

    public init(fd: Int32) throws {
        self.fd = fd
        var reader = TarReader(FileRangeReader(fd: fd), bufferSize: 64 * 1024)
        while let e = try reader.next() {
            guard let name = cleanArchivePath(e.name) else { continue }
            switch e.kind {
            case .file:
                members[name] = Member(offset: reader.position, size: e.size, link: nil)
            case .symlink:
                // Resolve relative to the member's directory.
                let dir = name.contains("/") ? String(name[..<name.lastIndex(of: "/")!]) : ""
                let target = e.linkName.hasPrefix("/") ? e.linkName : (dir.isEmpty ? e.linkName : dir + "/" + e.linkName)
                if let t = cleanArchivePath(target) { members[name] = Member(offset: 0, size: 0, link: t) }
            case .hardlink:
                if let t = cleanArchivePath(e.linkName) { members[name] = Member(offset: 0, size: 0, link: t) }
            default:
                continue
            }
        }
    }

    func member(_ name: String) -> Member? {
        var n = cleanArchivePath(name) ?? name
        for _ in 0..<16 {
            guard let m = members[n] else { return nil }
            guard let l = m.link else { return m }
            n = l
        }
        return nil
    }

    func contains(_ name: String) -> Bool { member(name) != nil }

    func data(_ name: String, limit: Int64 = 64 << 20) throws -> [UInt8] {
        guard let m = member(name) else { throw BerthError.invalid("archive has no \(name)") }
        guard m.size <= limit else { throw BerthError.invalid("\(name) is too large") }
        var out = [UInt8](repeating: 0, count: Int(m.size))
        var r = FileRangeReader(fd: fd, offset: m.offset, length: m.size)
        var got = 0
        while got < out.count {
            let n = try out.withUnsafeMutableBytes { try r.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[got...])) }
            if n == 0 { throw BerthError.invalid("short read of \(name)") }
            got += n
        }
        return out
    }

    func reader(_ name: String) throws -> FileRangeReader {
        guard let m = member(name) else { throw BerthError.invalid("archive has no \(name)") }
        return FileRangeReader(fd: fd, offset: m.offset, length: m.size)
    }

    /// The first bytes of a member, to recognise compression.
    func magic(_ name: String) throws -> [UInt8] {
        guard let m = member(name) else { return [] }
        var b = [UInt8](repeating: 0, count: Int(min(4, m.size)))
        _ = b.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(m.offset)) }
        return b
    }
}
