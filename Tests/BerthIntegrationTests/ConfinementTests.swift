#if canImport(Glibc)
import Glibc
#endif
import BerthArchive
import BerthClient
import BerthModels
import BerthSystem
import Foundation
import Testing

/// Containers confined like Docker's: the default seccomp profile refuses what it should and
/// `--privileged` or `seccomp=unconfined` lift it; capabilities, devices, init, sysctls and the
/// other options reach the container and show in inspect.
@Suite(.enabled(if: Gate.runtime, Gate.runtimeReason)) struct ConfinementTests {
    /// A static probe that calls keyctl(2) and unshare(CLONE_NEWUSER) and prints what each
    /// returned: "keyctl=<errno> unshare=<errno>" (0 when it worked).
    static let probe: [UInt8] = StaticProbe.build("""
        #define _GNU_SOURCE
        #include <errno.h>
        #include <sched.h>
        #include <stdio.h>
        #include <unistd.h>
        #include <sys/syscall.h>
        int main(void) {
            long k = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0);
            int ke = k < 0 ? errno : 0;
            int u = unshare(CLONE_NEWUSER);
            int ue = u < 0 ? errno : 0;
            printf("keyctl=%d unshare=%d\\n", ke, ue);
            return 0;
        }
        """)

    func loadProbeImage(_ d: TestDaemon) async throws {
        let layer = try ImageArchive.layer([(TarEntry(name: "usr/bin/probe", kind: .file, mode: 0o755), Self.probe)])
        _ = try await d.client.loadImage(try ImageArchive.make(tag: "probe:1", layers: [BusyboxImage.layer, layer], cmd: ["probe"]))
    }

    @Test func defaultProfileRefusesAndPrivilegedLifts() async throws {
        try await withDaemon { d in
            try await loadProbeImage(d)
            let confined = try await d.docker("run", "--rm", "probe:1")
            #expect(confined.stdoutText == "keyctl=\(EPERM) unshare=\(EPERM)\n", "\(confined.stdoutText)\(confined.stderrText)")
            let status = try await d.docker("run", "--rm", "probe:1", "grep", "-E", "^(Seccomp|CapEff):", "/proc/self/status").stdoutText
            #expect(status.contains("Seccomp:\t2") && status.contains("CapEff:\t00000000a80425fb"), "\(status)")
            for opts in [["--privileged"], ["--security-opt", "seccomp=unconfined"]] {
                let open = try await d.docker(["run", "--rm"] + opts + ["probe:1"])
                #expect(open.stdoutText.hasPrefix("keyctl=0") || open.stdoutText.hasPrefix("keyctl=\(ENOKEY)"), "\(opts): \(open.stdoutText)")
                #expect(open.stdoutText.hasSuffix("unshare=0\n"), "\(opts): \(open.stdoutText)\(open.stderrText)")
            }
            // A profile of one's own: the CLI sends the file's JSON.
            let profile = d.root + "/no-mkdir.json"
            try FS.write(profile, #"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#)
            let custom = try await d.docker("run", "--rm", "--security-opt", "seccomp=" + profile, "probe:1", "mkdir", "/x")
            #expect(custom.status != 0 && custom.stderrText.contains("Operation not permitted"), "\(custom.stderrText)")
            let bad = try await d.client.http.request(.POST, "/containers/create",
                                                      body: Array(#"{"Image":"probe:1","HostConfig":{"SecurityOpt":["nonsense"]}}"#.utf8),
                                                      headers: [("Content-Type", "application/json")])
            #expect(bad.status == 400 && bad.text.contains("invalid --security-opt 1: \\\"nonsense\\\""), "\(bad.text)")
        }
    }

    @Test func optionsReachTheContainer() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            func out(_ args: String...) async throws -> String {
                let r = try await d.docker(["run", "--rm"] + args)
                #expect(r.status == 0, "\(args): \(r.stderrText)")
                return r.stdoutText
            }
            #expect(try await out("--security-opt", "no-new-privileges", "busybox", "grep", "NoNewPrivs", "/proc/self/status")
                .contains("NoNewPrivs:\t1"))
            // The masked and read-only system paths, and `systempaths=unconfined` (the CLI sends
            // empty lists) lifting them.
            let systemPaths = ["busybox", "sh", "-c", "grep -c -E '/proc/(kcore|sys) ' /proc/mounts || true"]
            #expect(try await d.docker(["run", "--rm"] + systemPaths).stdoutText != "0\n")
            #expect(try await d.docker(["run", "--rm", "--security-opt", "systempaths=unconfined"] + systemPaths).stdoutText == "0\n")
            #expect(try await out("--cap-drop", "ALL", "--cap-add", "NET_RAW", "busybox", "grep", "CapEff", "/proc/self/status")
                .contains("CapEff:\t0000000000002000"))
            #expect(try await out("--init", "busybox", "ps", "-o", "pid,args").contains("1 /sbin/docker-init -- ps"))
            #expect(try await out("--device", "/dev/null:/dev/xnull", "busybox", "sh", "-c", "echo hi > /dev/xnull && ls -l /dev/xnull")
                .hasPrefix("crw"))
            #expect(try await out("--device-cgroup-rule", "c 1:5 rwm", "busybox", "true").isEmpty)
            #expect(try await out("--sysctl", "net.ipv4.ip_forward=1", "busybox", "cat", "/proc/sys/net/ipv4/ip_forward") == "1\n")
            #expect(try await out("--ulimit", "nofile=100:200", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn") == "100\n200\n")
            #expect(try await out("--pids-limit", "10", "busybox", "cat", "/sys/fs/cgroup/pids/pids.max") == "10\n")
            #expect(try await out("--oom-score-adj", "100", "busybox", "cat", "/proc/self/oom_score_adj") == "100\n")
            #expect(try await out("--shm-size", "1m", "busybox", "df", "-k", "/dev/shm").contains(" 1024 "))
            let ro = try await d.docker("run", "--rm", "--read-only", "busybox", "touch", "/x")
            #expect(ro.status != 0 && ro.stderrText.contains("Read-only file system"))
            // What the API refuses itself (the CLI would refuse some of these before sending).
            let sysctl = try await d.client.http.request(.POST, "/containers/create", body: Array(#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"Sysctls":{"vm.swappiness":"1"}}}"#.utf8), headers: [("Content-Type", "application/json")])
            #expect(sysctl.status == 400 && sysctl.text.contains("is not in a separate kernel namespace"), "\(sysctl.text)")
            let rule = try await d.docker("run", "--rm", "--device-cgroup-rule", "x 1:5 rwm", "busybox", "true")
            #expect(rule.status != 0)
            let dev = try await d.docker("run", "--rm", "--device", "/dev/berth-nonexistent", "busybox", "true")
            #expect(dev.status != 0 && dev.stderrText.contains("error gathering device information"), "\(dev.stderrText)")
            let cap = try await d.docker("run", "--rm", "--cap-add", "NOPE", "busybox", "true")
            #expect(cap.status != 0 && cap.stderrText.contains("unknown capability"), "\(cap.stderrText)")
            // Inspect shows what was asked for.
            #expect(try await d.docker("create", "--name", "conf", "--privileged", "--init", "--security-opt", "no-new-privileges",
                                       "--cap-add", "SYS_ADMIN", "--sysctl", "net.core.somaxconn=1024", "busybox").status == 0)
            let hc = try await d.docker("inspect", "-f", "{{.HostConfig.Privileged}} {{.HostConfig.Init}} {{.HostConfig.SecurityOpt}} {{.HostConfig.CapAdd}} {{.HostConfig.Sysctls}}", "conf").stdoutText
            #expect(hc == "true true [no-new-privileges] [CAP_SYS_ADMIN] map[net.core.somaxconn:1024]\n", "\(hc)")
        }
    }
}
