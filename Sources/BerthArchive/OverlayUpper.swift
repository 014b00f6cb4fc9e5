#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import CBerthSys
import Foundation

/// A container's overlay upper directory, as a layer is made of it.
public enum OverlayUpper {
    /// Readies a container's overlay upper directory to be adopted as a layer: the files berthd
    /// wrote into it (`excluded`, e.g. /etc/hosts) go, and a directory left empty by that (and not
    /// opaque) too; overlay's own xattrs other than `opaque` (origin, impure, uuid: bookkeeping of
    /// the mount it served) are removed, since the directory becomes a lower layer.
    public static func readyForAdoption(_ dir: String, excluded: Set<String>) {
        for rel in excluded {
            var st = stat()
            guard lstat(dir + "/" + rel, &st) == 0 else { continue }
            // Whatever is there goes, as the archive of an upper directory leaves it out.
            if st.st_mode & S_IFMT == S_IFDIR { FS.removeAll(dir + "/" + rel) } else { unlink(dir + "/" + rel) }
            let parent = (rel as NSString).deletingLastPathComponent
            if !parent.isEmpty && !hasXattr(dir + "/" + parent, "trusted.overlay.opaque") { rmdir(dir + "/" + parent) }
        }
        stripOverlayXattrs(dir)
        let e = FileManager.default.enumerator(atPath: dir)
        while let p = e?.nextObject() as? String { stripOverlayXattrs(dir + "/" + p) }
    }

    static func hasXattr(_ path: String, _ name: String) -> Bool {
        var v = [UInt8](repeating: 0, count: 4)
        return v.withUnsafeMutableBytes { berth_lgetxattr(path, name, $0.baseAddress, 4) } >= 0
    }

    static func stripOverlayXattrs(_ path: String) {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = berth_llistxattr(path, &buf, buf.count)
        guard n > 0 else { return }
        var names: [String] = []
        var start = 0
        for i in 0..<n where buf[i] == 0 {
            names.append(String(decoding: buf[start..<i].map { UInt8(bitPattern: $0) }, as: UTF8.self))
            start = i + 1
        }
        for name in names where name.hasPrefix("trusted.overlay.") && name != "trusted.overlay.opaque" {
            _ = berth_lremovexattr(path, name)
        }
    }
}
