#!/usr/bin/python3
"""Helper of scripts/devcloud (run with Debian's /usr/bin/python3).

Subcommands (scripts/devcloud calls them; they are not a user interface):

  status [--quiet]     every service: process alive? answering? (stdlib only, < 1 s)
  probe NAME           exit 0 when that service answers (its TCP/HTTP probe)
  wait                 wait until every service answers, the compute service and
                       the linuxbridge agent are up, cinder-volume is up and the
                       compute host is mapped to cell1 (runs discover_hosts)
  catalog              service project, roles, service users, catalog (openstacksdk)
  seed                 what govcloud needs, read from the checkout's inventories,
                       plus clouds.yaml entries (openstacksdk + PyYAML)
  procs                "pid starttime service" of every process of the dev cloud
  memory               RSS/PSS per service and in total

Several subcommands may be given in one call (`wait seed`): they run in order,
in one process.  Environment: DEVCLOUD_ROOT (the root dir), DEVCLOUD_CHECKOUT
(the govcloud checkout), DEVCLOUD_T0 (epoch seconds that timings count from).
"""
import importlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

ROOT = os.environ.get('DEVCLOUD_ROOT', '/var/lib/govcloud-devcloud')
CHECKOUT = os.environ.get('DEVCLOUD_CHECKOUT',
                          os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
T0 = float(os.environ.get('DEVCLOUD_T0') or time.time())
RUN = os.path.join(ROOT, 'run')
ETC = os.path.join(ROOT, 'etc')

KEYSTONE = 'http://127.0.0.1:5000/v3'
ADMIN = dict(username='admin', password='secret', project_name='admin',
             user_domain_name='Default', project_domain_name='Default')
REGION = 'RegionOne'
HOST = 'devcloud'            # [DEFAULT] host of nova, neutron and cinder
SERVICE_PASSWORD = 'secret'

# name (= run/<name>.pid), probe kind, probe target.  Order = start order.
#   tcp: a TCP connect succeeds;  banner: the server speaks first (MariaDB);
#   amqp: AMQP 0-9-1 protocol header gets a Connection.Start frame back;
#   http: any HTTP response below 500;  svc: service state reported through the APIs
SERVICES = [
    ('mariadb', 'banner', 3306),
    ('epmd', 'tcp', 4369),
    ('rabbitmq', 'amqp', 5672),
    ('keystone', 'http', 'http://127.0.0.1:5000/v3'),
    ('placement', 'http', 'http://127.0.0.1:8778/'),
    ('glance-api', 'http', 'http://127.0.0.1:9292/versions'),
    ('swift-account', 'http', 'http://127.0.0.1:6202/healthcheck'),
    ('swift-container', 'http', 'http://127.0.0.1:6201/healthcheck'),
    ('swift-object', 'http', 'http://127.0.0.1:6200/healthcheck'),
    ('swift-proxy', 'http', 'http://127.0.0.1:8080/healthcheck'),
    ('neutron-server', 'http', 'http://127.0.0.1:9696/'),
    ('neutron-linuxbridge-agent', 'svc', 'neutron-linuxbridge-agent'),
    ('nova-api', 'http', 'http://127.0.0.1:8774/'),
    ('nova-conductor', 'svc', 'nova-conductor'),
    ('nova-scheduler', 'svc', 'nova-scheduler'),
    ('nova-compute', 'svc', 'nova-compute'),
    ('cinder-api', 'http', 'http://127.0.0.1:8776/'),
    ('cinder-scheduler', 'svc', 'cinder-scheduler'),
    ('cinder-volume', 'svc', 'cinder-volume'),
]


def elapsed():
    return time.time() - T0


def say(msg):
    print('[%6.1fs] %s' % (elapsed(), msg), flush=True)


# ----------------------------------------------------------------- processes
def _stat(pid):
    """(ppid, pgid, sid, starttime) of a pid, or None."""
    try:
        with open('/proc/%s/stat' % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(')') + 2:].split()
    if rest[0] in ('Z', 'X'):         # exited, not reaped yet (PID 1 reaps late here)
        return None
    # rest[0] is field 3 (state): ppid=4, pgrp=5, session=6, starttime=22
    return int(rest[1]), int(rest[2]), int(rest[3]), rest[19]


def started_epoch(start):
    """Epoch seconds of a /proc starttime value (clock ticks since boot)."""
    with open('/proc/stat') as f:
        btime = next(int(line.split()[1]) for line in f if line.startswith('btime'))
    return btime + int(start) / os.sysconf('SC_CLK_TCK')


def api_epoch(ts):
    """Epoch seconds of an API timestamp ('2026-01-01T10:00:00.000000' or with a space; UTC)."""
    import calendar
    ts = ts.replace('T', ' ').split('.')[0].rstrip('Z')
    return calendar.timegm(time.strptime(ts, '%Y-%m-%d %H:%M:%S'))


def pidfile(name):
    """(pid, starttime) recorded by scripts/devcloud for a service, or None."""
    try:
        with open(os.path.join(RUN, name + '.pid')) as f:
            parts = f.read().split()
        return int(parts[0]), (parts[1] if len(parts) > 1 else None)
    except (OSError, ValueError, IndexError):
        return None


def alive(name):
    """The recorded process (the group leader) still runs, and is the same process."""
    rec = pidfile(name)
    if not rec:
        return None, False
    pid, start = rec
    st = _stat(pid)
    return pid, bool(st) and (start is None or st[3] == start)


def our_processes():
    """{pid: (starttime, service)}: every process in a recorded process group or
    session, plus all their descendants (sudo'ed helpers such as privsep-helper
    run in a session of their own under sudo's use_pty)."""
    groups = {}
    for name, _, _ in SERVICES:
        rec = pidfile(name)
        if rec:
            groups[rec[0]] = name
    table = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            st = _stat(d)
            if st:
                table[int(d)] = st
    ours = {}
    for pid, (ppid, pgid, sid, start) in table.items():
        svc = groups.get(pgid) or groups.get(sid)
        if svc:
            ours[pid] = (start, svc)
    changed = True
    while changed:
        changed = False
        for pid, (ppid, pgid, sid, start) in table.items():
            if pid not in ours and ppid in ours:
                ours[pid] = (start, ours[ppid][1])
                changed = True
    ours.pop(os.getpid(), None)
    return ours


def cmd_procs(_args):
    for pid, (start, svc) in sorted(our_processes().items()):
        print(pid, start, svc)
    return 0


def cmd_memory(_args):
    per = {}
    rows = []
    for pid, (start, svc) in sorted(our_processes().items()):
        rss = pss = 0
        try:
            with open('/proc/%d/smaps_rollup' % pid) as f:
                for line in f:
                    if line.startswith('Rss:'):
                        rss = int(line.split()[1])
                    elif line.startswith('Pss:'):
                        pss = int(line.split()[1])
            with open('/proc/%d/cmdline' % pid, 'rb') as f:
                cmd = f.read().replace(b'\0', b' ').decode(errors='replace').strip()
        except OSError:
            continue
        rows.append((pid, rss, pss, cmd))
        agg = per.setdefault(svc, [0, 0, 0])
        agg[0] += rss
        agg[1] += pss
        agg[2] += 1
    if not rows:
        print('no dev cloud process is running')
        return 1
    print('%-8s %8s %8s  %s' % ('PID', 'RSS_MB', 'PSS_MB', 'CMD'))
    for pid, rss, pss, cmd in rows:
        print('%-8d %8d %8d  %s' % (pid, rss // 1024, pss // 1024, cmd[:100]))
    print()
    print('%-28s %6s %8s %8s' % ('SERVICE', 'PROCS', 'RSS_MB', 'PSS_MB'))
    for name, _, _ in SERVICES:
        if name in per:
            rss, pss, n = per[name]
            print('%-28s %6d %8d %8d' % (name, n, rss // 1024, pss // 1024))
    trss = sum(r[1] for r in rows)
    tpss = sum(r[2] for r in rows)
    print('TOTAL: RSS %d MB, PSS %d MB, processes: %d' % (trss // 1024, tpss // 1024, len(rows)))
    return 0


# ----------------------------------------------------------------- probes
def probe_tcp(port, kind):
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=2) as s:
            if kind == 'banner':
                s.settimeout(2)
                return bool(s.recv(16))
            if kind == 'amqp':
                s.settimeout(3)
                s.sendall(b'AMQP\x00\x00\x09\x01')
                data = s.recv(16)
                # frame type 1 (method), channel 0 = connection.start
                return len(data) >= 7 and data[0] == 1
            return True
    except OSError:
        return False


def probe_http(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status < 500
    except urllib.error.HTTPError as e:
        return e.code < 500
    except Exception:
        return False


def _req(url, token=None, data=None, method=None):
    headers = {'Accept': 'application/json', 'Connection': 'close'}
    if token:
        headers['X-Auth-Token'] = token
    body = None
    if data is not None:
        body = json.dumps(data).encode()
        headers['Content-Type'] = 'application/json'
    req = urllib.request.Request(url, data=body, headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.headers, json.loads(r.read() or b'null')


def admin_token():
    """(token, admin project id) via keystone's password auth (stdlib only)."""
    body = {'auth': {'identity': {'methods': ['password'], 'password': {'user': {
        'name': ADMIN['username'], 'password': ADMIN['password'], 'domain': {'name': 'Default'}}}},
        'scope': {'project': {'name': ADMIN['project_name'], 'domain': {'name': 'Default'}}}}}
    headers, data = _req(KEYSTONE + '/auth/tokens', data=body)
    return headers['X-Subject-Token'], data['token']['project']['id']


def service_states(stamps=None):
    """{binary: 'up'|'down'} for nova and cinder services on our host and the
    linuxbridge agent; {} when the APIs cannot be asked.  `stamps`, if given, is
    filled with {binary: epoch of the last heartbeat}."""
    out = {}
    stamps = {} if stamps is None else stamps
    try:
        tok, pid = admin_token()
    except Exception:
        return out

    def nova():
        try:
            _, d = _req('http://127.0.0.1:8774/v2.1/os-services', tok)
            for s in d['services']:
                if s['host'] == HOST:
                    out[s['binary']] = s['state']
                    if s.get('updated_at'):
                        stamps[s['binary']] = api_epoch(s['updated_at'])
        except Exception:
            pass

    def cinder():
        try:
            _, d = _req('http://127.0.0.1:8776/v3/%s/os-services' % pid, tok)
            for s in d['services']:
                if s['host'].split('@')[0] == HOST:
                    # several backends would each report; one is enough here
                    if out.get(s['binary']) != 'up':
                        out[s['binary']] = s['state']
                        if s.get('updated_at'):
                            stamps[s['binary']] = api_epoch(s['updated_at'])
        except Exception:
            pass

    def neutron():
        try:
            _, d = _req('http://127.0.0.1:9696/v2.0/agents?binary=neutron-linuxbridge-agent', tok)
            for a in d['agents']:
                if a['host'] == HOST:
                    out['neutron-linuxbridge-agent'] = 'up' if a['alive'] else 'down'
                    if a.get('heartbeat_timestamp'):
                        stamps['neutron-linuxbridge-agent'] = api_epoch(a['heartbeat_timestamp'])
        except Exception:
            pass

    ts = [threading.Thread(target=f) for f in (nova, cinder, neutron)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def host_mapped():
    """True when nova_api.host_mappings maps our compute host to a cell."""
    # over TCP as the services' DB user, so that `status` works for non-root users too
    try:
        r = subprocess.run(['mariadb', '--no-defaults', '-h', '127.0.0.1', '-u', 'os', '-N', '-B',
                            '-e', "SELECT COUNT(*) FROM nova_api.host_mappings WHERE host='%s'" % HOST],
                           capture_output=True, text=True, env=dict(os.environ, MYSQL_PWD='secret'))
    except FileNotFoundError:  # the client is not installed yet (before `scripts/devcloud install`)
        return False
    return r.returncode == 0 and r.stdout.strip() not in ('', '0')


def check_all():
    """[(name, pid, alive, answering, detail)] for every service, probed in parallel."""
    res = {}

    def one(name, kind, target):
        pid, ok = alive(name)
        if kind in ('tcp', 'banner', 'amqp'):
            ans = probe_tcp(target, kind)
            detail = '%s 127.0.0.1:%d' % (kind, target)
        elif kind == 'http':
            ans = probe_http(target)
            detail = target
        else:
            ans = None        # filled in from service_states()
            detail = 'service state'
        res[name] = [pid, ok, ans, detail]

    states = {}

    def svc():
        states.update(service_states())

    ts = [threading.Thread(target=one, args=s) for s in SERVICES] + [threading.Thread(target=svc)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out = []
    for name, kind, target in SERVICES:
        pid, ok, ans, detail = res[name]
        if kind == 'svc':
            st = states.get(target)
            ans = st == 'up'
            detail = 'service state: %s' % (st or 'unknown')
        out.append((name, pid, ok, ans, detail))
    return out


def cmd_status(args):
    quiet = '--quiet' in args
    rows = check_all()
    good = all(ok and ans for _, _, ok, ans, _ in rows)
    mapped = host_mapped()
    if not quiet:
        print('%-27s %8s  %-7s  %-9s  %s' % ('SERVICE', 'PID', 'PROCESS', 'ANSWERING', 'PROBE'))
        for name, pid, ok, ans, detail in rows:
            print('%-27s %8s  %-7s  %-9s  %s' % (name, pid or '-',
                                                 'alive' if ok else ('DEAD' if pid else 'absent'),
                                                 'yes' if ans else 'NO', detail))
        print('%-27s %8s  %-7s  %-9s  %s' % ('compute host mapped', '-', '-',
                                             'yes' if mapped else 'NO', 'nova_api.host_mappings'))
        print('dev cloud: %s (root %s)' % ('UP' if good and mapped else 'NOT UP', ROOT))
    return 0 if good and mapped else 1


def cmd_probe(args, names):
    kinds = {n: (k, t) for n, k, t in SERVICES}
    for n in names:
        k, t = kinds[n]
        if not (probe_http(t) if k == 'http' else probe_tcp(t, k)):
            return 1
    return 0


# ----------------------------------------------------------------- wait
def cmd_wait(args, during=None):
    """Wait for readiness. `during`, if given, is called (in a thread) once every
    API answers, while the compute/agent/volume services are still coming up;
    its return code counts too (that is how `wait seed` overlaps the seeding)."""
    timeout = float(os.environ.get('DEVCLOUD_WAIT_TIMEOUT', '240'))
    end = time.time() + timeout
    rc = _wait_apis(end)
    if rc or during is None:
        return rc or _wait_services(end)
    result = []

    def run():
        try:
            result.append(during())
        except Exception as e:
            say('FAILED: %s: %s' % (type(e).__name__, e))
            import traceback
            traceback.print_exc()
            result.append(1)

    th = threading.Thread(target=run)
    th.start()
    rc = _wait_services(end)
    th.join()
    return rc or result[0]


def _wait_apis(end):
    http = [(n, k, t) for n, k, t in SERVICES if k != 'svc']
    pending = {n for n, _, _ in http}
    while pending and time.time() < end:
        got = {}
        ts = []
        for n, k, t in http:
            if n in pending:
                f = (lambda n=n, k=k, t=t: got.__setitem__(
                    n, probe_http(t) if k == 'http' else probe_tcp(t, k)))
                ts.append(threading.Thread(target=f))
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for n in sorted(n for n, ok in got.items() if ok):
            say('%s answering' % n)
            pending.discard(n)
        for n in list(pending):
            if not alive(n)[1]:
                say('%s is not running any more, see %s/logs/' % (n, ROOT))
                return 1
        if pending:
            time.sleep(0.3)
    if pending:
        say('TIMEOUT: not answering: %s (logs in %s/logs/)' % (', '.join(sorted(pending)), ROOT))
        return 1
    return 0


def _wait_services(end):
    want = [t for _, k, t in SERVICES if k == 'svc']
    # a heartbeat from before the process started (a restart within Nova's/Cinder's
    # 60 s service_down_time) still reads 'up': only count heartbeats of this process
    since = {}
    for b in want:
        rec = pidfile(b)
        since[b] = started_epoch(rec[1]) - 1 if rec and rec[1] else 0
    seen = set()
    discovered = False
    while time.time() < end:
        stamps = {}
        st = service_states(stamps)
        for b in want:
            if st.get(b) == 'up' and b not in seen and stamps.get(b, 0) >= since[b]:
                seen.add(b)
                say('%s up' % b)
        if 'nova-compute' in seen and not discovered:
            if host_mapped():
                say('compute host %s already mapped to a cell' % HOST)
            else:
                r = subprocess.run(['nova-manage', '--config-file', ETC + '/nova/nova.conf',
                                    'cell_v2', 'discover_hosts', '--verbose'],
                                   capture_output=True, text=True)
                if r.returncode != 0 or not host_mapped():
                    say('discover_hosts did not map %s yet (rc %d): %s'
                        % (HOST, r.returncode, (r.stdout + r.stderr).strip()[-300:]))
                    time.sleep(1)
                    continue
                say('compute host %s mapped to cell1 (nova-manage cell_v2 discover_hosts)' % HOST)
            discovered = True
        if discovered and seen >= set(want):
            return 0
        for n in want:
            if n not in seen and not alive(n)[1]:
                say('%s is not running any more, see %s/logs/%s.log' % (n, ROOT, n))
                return 1
        time.sleep(1)
    say('TIMEOUT: not up: %s%s' % (', '.join(sorted(set(want) - seen)),
                                   '' if discovered else ', compute host not mapped'))
    return 1


# ----------------------------------------------------------------- openstacksdk parts
def connect():
    import logging
    import openstack
    logging.getLogger('keystoneauth').setLevel(logging.ERROR)
    logging.getLogger('openstack').setLevel(logging.ERROR)
    return openstack.connect(auth_url=KEYSTONE, region_name=REGION, **ADMIN)


CATALOG = [
    # user,       service name, type,            url
    ('placement', 'placement', 'placement',     'http://127.0.0.1:8778'),
    ('glance',    'glance',    'image',         'http://127.0.0.1:9292'),
    ('nova',      'nova',      'compute',       'http://127.0.0.1:8774/v2.1'),
    ('neutron',   'neutron',   'network',       'http://127.0.0.1:9696'),
    ('cinder',    'cinderv3',  'volumev3',      'http://127.0.0.1:8776/v3/%(project_id)s'),
    ('cinder',    'cinder',    'block-storage', 'http://127.0.0.1:8776/v3/%(project_id)s'),
    ('swift',     'swift',     'object-store',  'http://127.0.0.1:8080/v1/AUTH_%(project_id)s'),
]


def first(gen):
    """First item or None (list-by-name: find_*() would GET by id first, which
    keystone logs as an ERROR with a traceback when the name is not an id)."""
    return next(iter(gen), None)


def role(idc, name):
    return first(idc.roles(name=name)) or idc.create_role(name=name)


def project(idc, name):
    return first(idc.projects(name=name, domain_id='default'))


def user(idc, name):
    return first(idc.users(name=name, domain_id='default'))


def cmd_catalog(_args):
    c = connect()
    idc = c.identity
    proj = project(idc, 'service') or \
        idc.create_project(name='service', domain_id='default', description='OpenStack service users')
    roles = {r: role(idc, r) for r in ('admin', 'member', 'reader', 'service', 'ResellerAdmin')}
    users = {}
    services = {s.type: s for s in idc.services()}
    for uname, name, stype, url in CATALOG:
        u = users.get(uname) or user(idc, uname) or \
            idc.create_user(name=uname, password=SERVICE_PASSWORD, domain_id='default',
                            default_project_id=proj.id)
        users[uname] = u
        # keystonemiddleware with service_token_roles_required=true (nova and cinder
        # send service tokens) needs the 'service' role on the service users
        idc.assign_project_role_to_user(proj, u, roles['admin'])
        idc.assign_project_role_to_user(proj, u, roles['service'])
        svc = services.get(stype) or idc.create_service(name=name, type=stype, is_enabled=True)
        services[stype] = svc
        have = {e.interface for e in idc.endpoints(service_id=svc.id)}
        for iface in ('public', 'internal', 'admin'):
            if iface not in have:
                idc.create_endpoint(service_id=svc.id, interface=iface, url=url, region_id=REGION)
    say('catalog: %d services, service users %s' % (len(CATALOG), ', '.join(sorted(users))))
    return 0


# quotas given to every agency project on the dev cloud (comfortable, so tests do
# not hit them; govcloud's own per-agency quotas are enforced by govcloud policy)
COMPUTE_QUOTA = {'instances': 200, 'cores': 400, 'ram': 800000, 'key_pairs': 200,
                 'server_groups': 100, 'server_group_members': 100,
                 'metadata_items': 256}
NETWORK_QUOTA = {'floatingip': 100, 'network': 100, 'subnet': 200, 'port': 1000,
                 'router': 50, 'security_group': 200, 'security_group_rule': 2000}
VOLUME_QUOTA = {'volumes': 200, 'gigabytes': 20000, 'snapshots': 200,
                'backups': 200, 'backup_gigabytes': 20000}

EXT_CIDR = '172.24.4.0/24'
EXT_GATEWAY = '172.24.4.1'
EXT_POOL = {'start': '172.24.4.10', 'end': '172.24.4.250'}
PHYSNET = 'public'           # ml2_conf.ini flat_networks / bridge_mappings public:br-public


def tiny_image(name):
    """A few KB of raw disk: a label in the first sector, zeros after it."""
    label = ('govcloud devcloud placeholder image %s (nova fake driver: nothing boots)\n'
             % name).encode()
    return label + b'\0' * (8192 - len(label))


def load_inventories():
    import yaml
    inv = os.path.join(CHECKOUT, 'inventories')
    with open(os.path.join(inv, 'sites', 'devcloud.yaml')) as f:
        site = yaml.safe_load(f)
    with open(os.path.join(inv, 'agencies.yaml')) as f:
        agencies = yaml.safe_load(f).get('agencies') or []
    return site, agencies


def cmd_seed(_args):
    import yaml
    site, agencies = load_inventories()
    if site.get('region', REGION) != REGION:
        say('inventories/sites/devcloud.yaml says region %r, the dev cloud has %r'
            % (site.get('region'), REGION))
        return 1
    c = connect()
    idc = c.identity
    admin_user = user(idc, ADMIN['username'])
    admin_proj = project(idc, ADMIN['project_name'])
    r_admin, r_member = role(idc, 'admin'), role(idc, 'member')
    done = []

    # -- flavors
    for key, s in (site.get('sizes') or {}).items():
        name, want = s['flavor'], (int(s['vcpus']), int(s['ramMb']), int(s['diskGb']))
        f = c.compute.find_flavor(name)
        if f and (f.vcpus, f.ram, f.disk) != want:
            say('flavor %s has %s, inventory says %s: re-creating' % (name, (f.vcpus, f.ram, f.disk), want))
            c.compute.delete_flavor(f)
            f = None
        if not f:
            c.compute.create_flavor(name=name, vcpus=want[0], ram=want[1], disk=want[2], is_public=True)
    done.append('%d flavors' % len(site.get('sizes') or {}))

    # -- images (one active public image per name; leftovers of failed uploads go)
    for alias, im in (site.get('images') or {}).items():
        name = im['image']
        imgs = list(c.image.images(name=name))
        active = [i for i in imgs if i.status == 'active']
        for i in imgs:
            if i.status != 'active' or (active and i.id != active[0].id):
                c.image.delete_image(i)
        if active and active[0].visibility != 'public':
            c.image.update_image(active[0], visibility='public')
        if not active:
            props = {'os_type': 'linux', 'govcloud_alias': alias}
            if im.get('os'):
                props['os_distro'] = im['os']
            c.image.create_image(name=name, data=tiny_image(name), disk_format='raw',
                                 container_format='bare', visibility='public', wait=True,
                                 allow_duplicates=True, **props)
    done.append('%d images' % len(site.get('images') or {}))

    # -- volume types ("encrypted" is a marker only: no key manager on the dev cloud)
    types = {t.name: t for t in c.block_storage.types()}
    for key, vt in (site.get('volumeTypes') or {}).items():
        name, enc = vt['name'], bool(vt.get('encrypted'))
        specs = {'govcloud:encrypted': 'true' if enc else 'false'}
        desc = ('govcloud volume type %s%s' % (
            name, ' (encrypted in production; on the dev cloud a marker only, no real encryption)'
            if enc else ''))
        t = types.get(name)
        if not t:
            c.block_storage.create_type(name=name, description=desc, extra_specs=specs, is_public=True)
        elif (t.extra_specs or {}).get('govcloud:encrypted') != specs['govcloud:encrypted']:
            c.block_storage.post('/types/%s/extra_specs' % t.id, json={'extra_specs': specs})
    done.append('%d volume types' % len(site.get('volumeTypes') or {}))

    # -- external flat network
    ext_name = site.get('externalNetwork')
    if ext_name:
        net = c.network.find_network(ext_name)
        if not net:
            net = c.network.create_network(
                name=ext_name, is_router_external=True, is_shared=False,
                provider_network_type='flat', provider_physical_network=PHYSNET,
                project_id=admin_proj.id)
        elif not net.is_router_external:
            net = c.network.update_network(net, is_router_external=True)
        if not list(c.network.subnets(network_id=net.id)):
            c.network.create_subnet(name=ext_name + '-subnet', network_id=net.id, ip_version=4,
                                    cidr=EXT_CIDR, gateway_ip=EXT_GATEWAY, is_dhcp_enabled=False,
                                    allocation_pools=[EXT_POOL], project_id=admin_proj.id)
        done.append('external network %s (%s)' % (ext_name, EXT_CIDR))

    # -- agency projects
    site_name = site.get('name', 'devcloud')
    projects = []
    for a in agencies:
        if site_name not in (a.get('allowedSites') or []):
            continue
        pname = a['project']
        desc = 'govcloud agency %s: %s' % (a.get('id'), (a.get('name') or {}).get('en', ''))
        p = project(idc, pname) or \
            idc.create_project(name=pname, domain_id='default', description=desc)
        idc.assign_project_role_to_user(p, admin_user, r_admin)
        idc.assign_project_role_to_user(p, admin_user, r_member)
        c.compute.put('/os-quota-sets/%s' % p.id, json={'quota_set': COMPUTE_QUOTA}).raise_for_status()
        c.network.put('/quotas/%s' % p.id, json={'quota': NETWORK_QUOTA}).raise_for_status()
        c.block_storage.put('/os-quota-sets/%s' % p.id,
                            json={'quota_set': VOLUME_QUOTA}).raise_for_status()
        projects.append(pname)
    done.append('%d agency projects (%s)' % (len(projects), ', '.join(projects)))

    # -- demo project + user (member)
    demo = project(idc, 'demo') or \
        idc.create_project(name='demo', domain_id='default', description='non-admin demo project')
    du = user(idc, 'demo') or \
        idc.create_user(name='demo', password='secret', domain_id='default', default_project_id=demo.id)
    idc.assign_project_role_to_user(demo, du, r_member)
    done.append('demo project/user')

    # -- clouds.yaml
    path = write_clouds_yaml(yaml, site.get('cloud', 'devcloud'))
    done.append('clouds.yaml %s' % path)
    say('seeded: ' + '; '.join(done))
    return 0


def clouds_entry(user, project):
    return {'auth': {'auth_url': 'http://127.0.0.1:5000/v3', 'username': user, 'password': 'secret',
                     'project_name': project, 'user_domain_name': 'Default',
                     'project_domain_name': 'Default'},
            'region_name': REGION, 'identity_api_version': 3, 'interface': 'public'}


def write_clouds_yaml(yaml, cloud):
    """Merge our two entries into ~/.config/openstack/clouds.yaml (other entries are
    kept; comments are not, PyYAML drops them).  Under sudo, the invoking user's
    file gets them too."""
    import pwd
    homes = [(os.path.expanduser('~'), None)]
    sudo_user = os.environ.get('SUDO_USER')
    if sudo_user and sudo_user != 'root':
        try:
            pw = pwd.getpwnam(sudo_user)
            if pw.pw_dir != homes[0][0]:
                homes.append((pw.pw_dir, pw))
        except KeyError:
            pass
    want = {cloud: clouds_entry('admin', 'admin'), cloud + '-demo': clouds_entry('demo', 'demo')}
    written = []
    for home, pw in homes:
        path = os.path.join(home, '.config', 'openstack', 'clouds.yaml')
        written.append(path)
        data = {}
        if os.path.exists(path):
            with open(path) as f:
                data = yaml.safe_load(f) or {}
            if not isinstance(data, dict):
                raise SystemExit('%s is not a YAML mapping; not touching it' % path)
        clouds = data.get('clouds') or {}
        data['clouds'] = clouds
        if all(clouds.get(k) == v for k, v in want.items()):
            continue
        clouds.update(want)
        d = os.path.dirname(path)
        os.makedirs(d, exist_ok=True)
        tmp = path + '.devcloud.tmp'
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as f:
            yaml.safe_dump(data, f, default_flow_style=False, sort_keys=False)
        if pw:
            for p in (os.path.dirname(d), d, tmp):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        os.replace(tmp, path)
    return ', '.join(written)


COMMANDS = {'status': cmd_status, 'wait': cmd_wait, 'catalog': cmd_catalog, 'seed': cmd_seed,
            'procs': cmd_procs, 'memory': cmd_memory}


def main(argv):
    if argv[:1] == ['probe']:
        known = {n for n, k, _ in SERVICES if k != 'svc'}
        if len(argv) < 2 or not set(argv[1:]) <= known:
            print('probe one of: %s' % ' '.join(sorted(known)), file=sys.stderr)
            return 2
        return cmd_probe([], argv[1:])
    cmds = [a for a in argv if not a.startswith('-')]
    opts = [a for a in argv if a.startswith('-')]
    if not cmds or any(c not in COMMANDS for c in cmds):
        print(__doc__, file=sys.stderr)
        return 2
    if cmds == ['wait', 'seed']:
        # Import openstacksdk in the main thread: Debian's pulls in eventlet (through
        # osprofiler -> oslo.concurrency), and eventlet imported first inside a worker
        # thread leaves that thread un-joinable (join() hangs forever).
        for name in ("openstack", "yaml"):
            importlib.import_module(name)
        return cmd_wait(opts, during=lambda: cmd_seed(opts))
    for c in cmds:
        rc = COMMANDS[c](opts)
        if rc:
            return rc
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
