/// One entry of a tar stream, with the PAX/GNU extensions folded in.
public struct TarEntry: Sendable {
    public enum Kind: Sendable, Equatable {
        case file, directory, symlink, hardlink, charDevice, blockDevice, fifo, other(UInt8)
    }
    public var name: String
    public var kind: Kind
    public var mode: UInt32
    public var uid: Int
    public var gid: Int
    public var size: Int64
    public var mtime: Int64
    public var linkName: String
    public var devMajor: UInt32
    public var devMinor: UInt32
    public var xattrs: [String: [UInt8]]
    /// The header's mode field as written (type bits included, as Go's archive package writes
    /// them); `mode` keeps the permission bits only.
    public var headerMode: Int64? = nil

    public init(name: String, kind: Kind, mode: UInt32 = 0o644, uid: Int = 0, gid: Int = 0, size: Int64 = 0,
                mtime: Int64 = 0, linkName: String = "", devMajor: UInt32 = 0, devMinor: UInt32 = 0,
                xattrs: [String: [UInt8]] = [:]) {
        self.name = name; self.kind = kind; self.mode = mode; self.uid = uid; self.gid = gid
        self.size = size; self.mtime = mtime; self.linkName = linkName
        self.devMajor = devMajor; self.devMinor = devMinor; self.xattrs = xattrs
    }

    public var typeFlag: UInt8 {
        switch kind {
        case .file: return UInt8(ascii: "0")
        case .hardlink: return UInt8(ascii: "1")
        case .symlink: return UInt8(ascii: "2")
        case .charDevice: return UInt8(ascii: "3")
        case .blockDevice: return UInt8(ascii: "4")
        case .directory: return UInt8(ascii: "5")
        case .fifo: return UInt8(ascii: "6")
        case .other(let f): return f
        }
    }

    static func kind(for flag: UInt8) -> Kind {
        switch flag {
        case 0, UInt8(ascii: "0"), UInt8(ascii: "7"): return .file
        case UInt8(ascii: "1"): return .hardlink
        case UInt8(ascii: "2"): return .symlink
        case UInt8(ascii: "3"): return .charDevice
        case UInt8(ascii: "4"): return .blockDevice
        case UInt8(ascii: "5"): return .directory
        case UInt8(ascii: "6"): return .fifo
        default: return .other(flag)
        }
    }
}

/// Cleans an archive path: no leading `/` or `./`, no empty or `.` parts. Returns nil when the
/// path climbs out with `..`, which Berth never follows.
/// With `clamp`, `..` at the top stays at the root instead (how a path resolves inside a root).
public func cleanArchivePath(_ raw: String, clamp: Bool = false) -> String? {
    var parts: [Substring] = []
    for p in raw.split(separator: "/", omittingEmptySubsequences: true) {
        if p == "." { continue }
        if p == ".." {
            if parts.isEmpty { if clamp { continue }; return nil }
            parts.removeLast()
            continue
        }
        parts.append(p)
    }
    return parts.joined(separator: "/")
}
