#if canImport(Glibc)
import Glibc
#endif
import BerthArchive
import BerthSystem
import Foundation
import Testing

/// Volumes, binds and tmpfs with real runc and the docker CLI.
@Suite(.enabled(if: Gate.runtime, Gate.runtimeReason)) struct VolumeTests {
    func withBusybox(_ body: (TestDaemon) async throws -> Void) async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            try await body(d)
        }
    }

    /// What a container run can leave on the host: mounts under the test's root, as berthd's
    /// mount namespace has them (a thread of the test process may be in another one).
    func mounts(_ d: TestDaemon) throws -> [String] {
        (FS.readText("/proc/\(d.pid)/mountinfo") ?? "").split(separator: "\n")
            .map { String($0.split(separator: " ")[4]) }.filter { $0.hasPrefix(d.root) }.sorted()
    }

    /// A named volume written by one container is read by another, is kept across a kill -9 of
    /// berthd, and refuses removal while a container uses it.
    @Test func namedVolumeOutlivesContainersAndDaemon() async throws {
        try await withBusybox { d in
            #expect(try await d.docker("run", "--rm", "-v", "it-data:/data", "busybox", "sh", "-c", "echo kept > /data/f").status == 0)
            #expect(try await d.docker("run", "--rm", "-v", "it-data:/data", "busybox", "cat", "/data/f").stdoutText == "kept\n")
            #expect(try await d.docker("run", "-d", "--name", "it-user", "-v", "it-data:/data", "busybox", "sleep", "300").status == 0)
            d.kill9()
            try await d.start()
            #expect(try await d.docker("exec", "it-user", "cat", "/data/f").stdoutText == "kept\n")
            let rm = try await d.docker("volume", "rm", "it-data")
            #expect(rm.status != 0 && rm.stderrText.contains("volume is in use"))
            #expect(try await d.docker("rm", "-f", "it-user").status == 0)
            #expect(try await d.docker("volume", "rm", "it-data").status == 0)
            #expect(try await d.docker("volume", "ls", "-q").stdoutText.isEmpty)
        }
    }

    /// An image's VOLUME: filled from the image at create (files, links, owners), `docker cp`
    /// into it before the first start writes into the volume, rm -v and --rm take the anonymous
    /// volume, commit leaves its content out.
    @Test func imageVolumesCopyUpAndCp() async throws {
        try await withBusybox { d in
            _ = try await d.docker("run", "--name", "it-base", "busybox", "sh", "-c",
                                   "mkdir -p /vol1/sub && echo img > /vol1/x && echo deep > /vol1/sub/y && chown 123:45 /vol1/x && ln -s x /vol1/lnk")
            #expect(try await d.docker("commit", "--change", "VOLUME /vol1", "it-base", "it/volimg").status == 0)
            _ = try await d.docker("create", "--name", "it-vc", "it/volimg", "sh", "-c", "cat /vol1/x /vol1/sub/y /vol1/fromcp; stat -c %u:%g /vol1/x; readlink /vol1/lnk")
            let src = d.root + "/fromcp"
            try FS.write(src, "copied\n")
            let cp = try await d.docker("cp", src, "it-vc:/vol1/fromcp")
            #expect(cp.status == 0, "\(cp.stderrText)")
            let out = try await d.docker("start", "-a", "it-vc")
            #expect(out.stdoutText == "img\ndeep\ncopied\n123:45\nx\n", "\(out.stdoutText) \(out.stderrText)")
            let back = try await d.docker("cp", "it-vc:/vol1/fromcp", d.root + "/back")
            #expect(back.status == 0 && (try? String(contentsOfFile: d.root + "/back", encoding: .utf8)) == "copied\n")
            // The volume's content is not in the container's own layer.
            #expect(try await d.docker("diff", "it-vc").stdoutText.contains("fromcp") == false)
            let volume = try await d.inspect("it-vc", "{{(index .Mounts 0).Name}}")
            #expect(volume.count == 64)
            #expect(try await d.docker("rm", "-v", "it-vc").status == 0)
            #expect(try await d.docker("volume", "ls", "-q").stdoutText.isEmpty)
            #expect(try await d.docker("run", "--rm", "it/volimg", "cat", "/vol1/x").stdoutText == "img\n")
            #expect(try await d.docker("volume", "ls", "-q").stdoutText.isEmpty)
        }
    }

    /// Binds (ro), --volumes-from (ro), tmpfs with a size, nocopy, a read-only root with a
    /// writable volume; and a volume subpath that is a link (a container could have pointed it
    /// at the host's /) is refused.
    @Test func bindsTmpfsVolumesFromAndSubpaths() async throws {
        try await withBusybox { d in
            let host = d.root + "/host-dir"
            try FS.mkdirAll(host)
            try FS.write(host + "/h", "fromhost\n")
            let ro = try await d.docker("run", "--rm", "-v", host + ":/b:ro", "busybox", "sh", "-c", "cat /b/h; touch /b/x 2>/dev/null && echo rw || echo ro")
            #expect(ro.stdoutText == "fromhost\nro\n")
            #expect(try await d.docker("run", "--rm", "-v", host + ":/b", "busybox", "sh", "-c", "echo back > /b/w").status == 0)
            #expect((try? String(contentsOfFile: host + "/w", encoding: .utf8)) == "back\n")
            let tmpfs = try await d.docker("run", "--rm", "--mount", "type=tmpfs,dst=/t,tmpfs-size=1048576", "busybox", "sh", "-c", "grep ' /t ' /proc/mounts")
            #expect(tmpfs.stdoutText.contains("tmpfs /t tmpfs") && tmpfs.stdoutText.contains("size=1024k"), "\(tmpfs.stdoutText)")
            // `docker cp` into and out of a tmpfs of a running container reaches that tmpfs (it
            // exists only in the container's mount namespace), as with dockerd.
            #expect(try await d.docker("run", "-d", "--name", "it-tmpcp", "--tmpfs", "/t", "busybox", "sh", "-c", "echo inside > /t/in; sleep 300").status == 0)
            #expect(await eventually(.seconds(10)) { (try? await d.docker("exec", "it-tmpcp", "cat", "/t/in"))?.stdoutText == "inside\n" })
            try FS.write(d.root + "/cp-in.txt", "copied\n")
            #expect(try await d.docker("cp", d.root + "/cp-in.txt", "it-tmpcp:/t/").status == 0)
            #expect(try await d.docker("exec", "it-tmpcp", "cat", "/t/cp-in.txt").stdoutText == "copied\n")
            #expect(try await d.docker("cp", "it-tmpcp:/t/in", d.root + "/cp-out.txt").status == 0)
            #expect(FS.readText(d.root + "/cp-out.txt") == "inside\n")
            _ = try await d.docker("rm", "-f", "it-tmpcp")
            #expect(try await d.docker("run", "-d", "--name", "it-src", "-v", "it-shared:/s", "busybox", "sh", "-c", "echo s > /s/f; sleep 300").status == 0)
            #expect(await eventually(.seconds(10)) { (try? await d.docker("exec", "it-src", "cat", "/s/f"))?.stdoutText == "s\n" })
            let from = try await d.docker("run", "--rm", "--volumes-from", "it-src:ro", "busybox", "sh", "-c", "cat /s/f; touch /s/g 2>/dev/null && echo rw || echo ro")
            #expect(from.stdoutText == "s\nro\n")
            let readOnlyRoot = try await d.docker("run", "--rm", "--read-only", "-v", "it-shared:/s", "busybox", "sh", "-c", "touch /x 2>/dev/null || echo root-ro; touch /s/ok && echo vol-rw")
            #expect(readOnlyRoot.stdoutText == "root-ro\nvol-rw\n")
            // A subpath: a directory of the volume; a link there is refused.
            _ = try await d.docker("exec", "it-src", "sh", "-c", "mkdir -p /s/sub && echo in-sub > /s/sub/f && ln -s / /s/evil")
            let sub = try await d.docker("run", "--rm", "--mount", "type=volume,src=it-shared,dst=/v,volume-subpath=sub", "busybox", "cat", "/v/f")
            #expect(sub.stdoutText == "in-sub\n", "\(sub.stderrText)")
            // The subpath is held by descriptor from check to mount (a clone runc binds from), and
            // the clone is gone from the host once the container runs; the mount shows the
            // volume's directory itself, live.
            #expect(try await d.docker("run", "-d", "--name", "it-sub", "--mount", "type=volume,src=it-shared,dst=/v,volume-subpath=sub",
                                       "busybox", "sleep", "300").status == 0)
            #expect(try !mounts(d).contains { $0.contains("/exec/pinned/") })
            _ = try await d.docker("exec", "it-src", "sh", "-c", "echo later > /s/sub/g")
            #expect(try await d.docker("exec", "it-sub", "cat", "/v/g").stdoutText == "later\n")
            _ = try await d.docker("rm", "-f", "it-sub")
            // `docker cp` through a subpath that another container swapped for a link to / reads
            // nothing of the host.
            _ = try await d.docker("exec", "it-src", "mkdir", "-p", "/s/sub2")
            #expect(try await d.docker("create", "--name", "it-subcp", "--mount", "type=volume,src=it-shared,dst=/v,volume-subpath=sub2",
                                       "busybox", "true").status == 0)
            _ = try await d.docker("exec", "it-src", "sh", "-c", "rmdir /s/sub2 && ln -s / /s/sub2")
            let leak = try await d.docker("cp", "it-subcp:/v/etc/hostname", "-")
            #expect(leak.status != 0 && !leak.stdoutText.contains(ProcessInfo.processInfo.hostName), "\(leak.stdoutText) \(leak.stderrText)")
            _ = try await d.docker("rm", "-f", "it-subcp")
            let evil = try await d.docker("run", "--rm", "--mount", "type=volume,src=it-shared,dst=/v,volume-subpath=evil", "busybox", "ls", "/v/etc/shadow")
            #expect(evil.status != 0 && evil.stderrText.contains("symbolic link"), "\(evil.stdoutText) \(evil.stderrText)")
            #expect(try await d.docker("ps", "-aq", "-f", "status=created").stdoutText.isEmpty)
        }
    }

    /// The local driver's options: a tmpfs volume is mounted while a container uses it and
    /// unmounted after the last one stops (also when that happened while berthd was down); a
    /// bind volume shows the host directory; unknown options are refused as dockerd does.
    @Test func localDriverOptions() async throws {
        try await withBusybox { d in
            #expect(try await d.docker("volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=2m", "it-tv").status == 0)
            let dir = d.root + "/data/volumes/it-tv/_data"
            let inside = try await d.docker("run", "--rm", "-v", "it-tv:/t", "busybox", "grep", " /t ", "/proc/mounts")
            #expect(inside.stdoutText.contains("tmpfs /t tmpfs") && inside.stdoutText.contains("size=2048k"), "\(inside.stdoutText) \(inside.stderrText)")
            #expect(await eventually(.seconds(10)) { (try? mounts(d))?.contains(dir) == false })
            let user = try await d.docker("run", "-d", "--name", "it-tv-user", "-v", "it-tv:/t", "busybox", "sleep", "300")
            #expect(user.status == 0, "\(user.stderrText)")
            let now = try mounts(d)
            #expect(now.contains(dir), "\(now)")
            let id = try await d.inspect("it-tv-user", "{{.Id}}")
            d.kill9()
            // The container ends while berthd is away; the next berthd lets the mount go.
            _ = try await Subprocess.run(["runc", "--root", d.root + "/exec/runc", "kill", id, "KILL"])
            try await d.waitForFile(d.root + "/exec/exits/" + id)
            try await d.start()
            #expect(await eventually(.seconds(10)) { (try? mounts(d))?.contains(dir) == false })

            let host = d.root + "/bind-vol-src"
            try FS.mkdirAll(host)
            try FS.write(host + "/h", "hostfile\n")
            #expect(try await d.docker("volume", "create", "--opt", "type=none", "--opt", "device=" + host, "--opt", "o=bind", "it-bv").status == 0)
            #expect(try await d.docker("run", "--rm", "-v", "it-bv:/b", "busybox", "cat", "/b/h").stdoutText == "hostfile\n")
            let bad = try await d.docker("volume", "create", "--opt", "foo=bar", "it-bad")
            #expect(bad.status != 0 && bad.stderrText.contains("create it-bad: invalid option: \"foo\""))
        }
    }

    /// Create/start/rm cycles with volumes, binds and tmpfs leave no mount and no volume behind.
    @Test func mountsDoNotLeak() async throws {
        try await withBusybox { d in
            let host = d.root + "/leak-bind"
            try FS.mkdirAll(host)
            _ = try await d.docker("volume", "create", "it-keep")
            let before = try mounts(d)
            for i in 0..<15 {
                let r = try await d.docker("run", "--rm", "-v", "it-keep:/k", "-v", host + ":/b", "-v", "/anon", "--tmpfs", "/t",
                                           "--mount", "type=tmpfs,dst=/t2", "busybox", "sh", "-c", "echo \(i) > /k/n")
                #expect(r.status == 0, "\(r.stderrText)")
            }
            #expect(try mounts(d) == before)
            #expect(try await d.docker("volume", "ls", "-q").stdoutText == "it-keep\n")
        }
    }
}
