#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import CBerthSys
import Foundation

/// A bind source that must be a directory beneath `root` reached without any symbolic link (a
/// volume's subpath): a container sharing the volume could swap a directory on the way for a link
/// to the host between a check and runc's mount. So the directory is opened once, confined, its
/// tree cloned from that descriptor (`open_tree`) and attached at a path only berthd can reach;
/// runc is given that path, and the clone is let go as soon as runc has made its own mount.
public struct PinnedSource: Sendable {
    /// Index into `ContainerSpec.mounts` of the bind mount whose source this is.
    public var mount: Int
    public var root: String
    public var subpath: String
    /// What to say when the subpath is missing or passes through a link.
    public var refusal: String
    public init(mount: Int, root: String, subpath: String, refusal: String) {
        self.mount = mount; self.root = root; self.subpath = subpath; self.refusal = refusal
    }
}

enum PinnedMounts {
    /// Clones each pinned source under `dir/<n>` and points its mount there; returns what to let go.
    static func pin(_ spec: inout ContainerSpec, under dir: String) throws -> [String] {
        var attached: [String] = []
        do {
            for (n, p) in spec.pinned.enumerated() {
                guard let fd = ContainerFiles.openDirectoryBeneath(p.root, p.subpath) else { throw BerthError.invalid(p.refusal) }
                defer { close(fd) }
                let tree = open_tree(fd, "", UInt32(OPEN_TREE_CLONE) | UInt32(O_CLOEXEC) | UInt32(BERTH_AT_EMPTY_PATH) | UInt32(0x8000))  // 0x8000: AT_RECURSIVE
                guard tree >= 0 else { throw BerthError.system("open_tree \(p.subpath): \(Syscall.errnoText())") }
                defer { close(tree) }
                let target = dir + "/\(n)"
                try FS.mkdirAll(target, mode: 0o700)
                guard move_mount(tree, "", AT_FDCWD, target, UInt32(MOVE_MOUNT_F_EMPTY_PATH)) == 0 else {
                    throw BerthError.system("move_mount \(target): \(Syscall.errnoText())")
                }
                attached.append(target)
                // Private: letting it go must not reach the copy runc made in the container.
                _ = mount(nil, target, nil, UInt(MS_REC | MS_PRIVATE), nil)
                spec.mounts[p.mount].source = target
            }
        } catch {
            release(attached, dir: dir)
            throw error
        }
        return attached
    }

    static func release(_ attached: [String], dir: String) {
        for t in attached { _ = umount2(t, Int32(MNT_DETACH)); rmdir(t) }
        rmdir(dir)
    }

    /// At start-up: clones a crash left attached (nothing else is mounted there).
    static func releaseAll(under root: String) {
        for id in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
            let dir = root + "/" + id
            let n = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            release(n.map { dir + "/" + $0 }, dir: dir)
        }
    }
}
