#!/usr/bin/python3
"""End-to-end smoke scenario against the dev cloud, in one openstacksdk process.

As the admin user scoped to an agency project (default gov-moh): network +
subnet, router with external gateway + interface, security group + rule, a
port, a server on that port (ACTIVE), a floating IP associated through the
port, a volume created and attached (in-use), a swift container + object,
os-simple-tenant-usage of the project non-zero; then everything is deleted and
checked to be gone.  Only what this run created is touched (names carry a
random suffix), so it can run while others use the same project.

Runs with Debian's openstacksdk 0.101 (/usr/bin/python3, `scripts/devcloud smoke`)
and with a current pip openstacksdk (e.g. .venv/bin/python scripts/devcloud.d/smoke.py).
Exit 0 = passed and nothing left behind.
"""
import argparse
import datetime
import logging
import os
import sys
import time
import uuid

import openstack
from openstack import exceptions

logging.getLogger('keystoneauth').setLevel(logging.ERROR)
logging.getLogger('openstack').setLevel(logging.ERROR)

HERE = os.path.dirname(os.path.abspath(__file__))
SITE = os.path.join(os.path.dirname(os.path.dirname(HERE)), 'inventories', 'sites', 'devcloud.yaml')
T0 = time.time()


def step(msg):
    print('[%6.1fs] %s' % (time.time() - T0, msg), flush=True)


def site_defaults():
    try:
        import yaml
        with open(SITE) as f:
            site = yaml.safe_load(f)
        return site.get('cloud', 'devcloud'), site.get('externalNetwork', 'public')
    except Exception:
        return 'devcloud', 'public'


def wait(fn, want, what, timeout=120, interval=0.5):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        last = fn()
        if last == want:
            return
        if isinstance(last, str) and last.lower().startswith('error'):
            raise RuntimeError('%s went %s' % (what, last))
        time.sleep(interval)
    raise RuntimeError('%s: still %r after %ss (want %r)' % (what, last, timeout, want))


def main():
    cloud, ext_default = site_defaults()
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--cloud', default=os.environ.get('OS_CLOUD') or cloud)
    ap.add_argument('--project', default='gov-moh')
    ap.add_argument('--flavor', default='gc.small')
    ap.add_argument('--image', default='ubuntu-22.04')
    ap.add_argument('--external-network', default=ext_default)
    args = ap.parse_args()

    c = openstack.connect(cloud=args.cloud, auth={'project_name': args.project})
    pid = c.current_project_id
    assert c.identity.get_project(pid).name == args.project, 'not scoped to %s' % args.project
    sdk = getattr(getattr(openstack, 'version', None), '__version__', None)
    if sdk is None:
        from importlib.metadata import version
        sdk = version('openstacksdk')
    step('connected: cloud %s, project %s (%s), openstacksdk %s, %s'
         % (args.cloud, args.project, pid, sdk, sys.executable))

    tag = 'smoke-' + uuid.uuid4().hex[:8]
    made = []            # (kind, object) in creation order; deleted in reverse
    errors = []
    try:
        flavor = c.compute.find_flavor(args.flavor, ignore_missing=False)
        image = c.image.find_image(args.image, ignore_missing=False)
        ext = c.network.find_network(args.external_network, ignore_missing=False)
        assert ext.is_router_external, '%s is not router:external' % ext.name

        net = c.network.create_network(name=tag + '-net')
        made.append(('network', net))
        sub = c.network.create_subnet(name=tag + '-sub', network_id=net.id, ip_version=4,
                                      cidr='10.250.%d.0/24' % (uuid.uuid4().int % 250))
        step('network %s + subnet %s' % (net.name, sub.cidr))
        router = c.network.create_router(name=tag + '-router',
                                         external_gateway_info={'network_id': ext.id})
        made.append(('router', router))
        c.network.add_interface_to_router(router, subnet_id=sub.id)
        made.append(('router-interface', (router, sub)))
        gw = c.network.get_router(router).external_gateway_info
        assert gw and gw.get('network_id') == ext.id, gw
        step('router with external gateway (%s) + interface'
             % [ip['ip_address'] for ip in gw.get('external_fixed_ips', [])])
        sg = c.network.create_security_group(name=tag + '-sg', description='smoke')
        made.append(('security-group', sg))
        c.network.create_security_group_rule(security_group_id=sg.id, direction='ingress',
                                             ethertype='IPv4', protocol='tcp', port_range_min=22,
                                             port_range_max=22, remote_ip_prefix='0.0.0.0/0')
        step('security group + rule tcp/22')
        port = c.network.create_port(name=tag + '-port', network_id=net.id,
                                     security_group_ids=[sg.id])
        made.append(('port', port))
        server = c.compute.create_server(name=tag + '-vm', flavor_id=flavor.id, image_id=image.id,
                                         networks=[{'port': port.id}])
        made.append(('server', server))
        server = c.compute.wait_for_server(server, status='ACTIVE', interval=1, wait=180)
        step('server %s ACTIVE (flavor %s, image %s)' % (server.name, flavor.name, image.name))
        fip = c.network.create_ip(floating_network_id=ext.id, port_id=port.id)
        made.append(('floating-ip', fip))
        fip = c.network.get_ip(fip)
        assert fip.port_id == port.id and fip.fixed_ip_address, fip
        wait(lambda: fip.floating_ip_address in str(c.compute.get_server(server).addresses), True,
             'floating ip in server addresses', timeout=60)
        step('floating ip %s -> port %s (%s), shown in server addresses'
             % (fip.floating_ip_address, port.name, fip.fixed_ip_address))
        vol = c.block_storage.create_volume(name=tag + '-vol', size=1)
        made.append(('volume', vol))
        wait(lambda: c.block_storage.get_volume(vol).status, 'available', 'volume')
        c.compute.create_volume_attachment(server, volume_id=vol.id)
        made.append(('attachment', (server, vol)))
        wait(lambda: c.block_storage.get_volume(vol).status, 'in-use', 'volume attach')
        step('volume %s attached (in-use)' % vol.name)
        c.object_store.create_container(name=tag + '-bucket')
        made.append(('container', tag + '-bucket'))
        c.object_store.upload_object(container=tag + '-bucket', name='hello.txt', data=b'hello devcloud')
        made.append(('object', (tag + '-bucket', 'hello.txt')))
        got = c.object_store.download_object('hello.txt', container=tag + '-bucket')
        assert got == b'hello devcloud', got
        step('swift container + object (read back)')
        end = (datetime.datetime.utcnow() + datetime.timedelta(minutes=1)).strftime('%Y-%m-%dT%H:%M:%S')
        u = c.compute.get('/os-simple-tenant-usage/%s?start=2000-01-01T00:00:00&end=%s'
                          % (pid, end)).json()['tenant_usage']
        assert u.get('total_memory_mb_usage', 0) > 0 and u.get('total_vcpus_usage', 0) > 0, u
        step('os-simple-tenant-usage: %.4f MB-hours RAM, %.6f vCPU-hours, %.4f GB-hours disk'
             % (u['total_memory_mb_usage'], u['total_vcpus_usage'], u['total_local_gb_usage']))
    except Exception as e:
        errors.append('scenario: %s: %s' % (type(e).__name__, e))
        step('FAILED: %s' % errors[-1])
    finally:
        cleanup(c, made, errors)
    if errors:
        print('SMOKE FAILED:\n  ' + '\n  '.join(errors))
        return 1
    step('SMOKE OK (everything created was deleted)')
    return 0


def cleanup(c, made, errors):
    def gone(getter, obj):
        try:
            getter(obj)
            return False
        except exceptions.ResourceNotFound:
            return True

    for kind, obj in reversed(made):
        try:
            if kind == 'object':
                c.object_store.delete_object(obj[1], container=obj[0])
            elif kind == 'container':
                c.object_store.delete_container(obj)
            elif kind == 'attachment':
                server, vol = obj
                # raw call: delete_volume_attachment() changed its arguments after 0.101
                c.compute.delete('/servers/%s/os-volume_attachments/%s' % (server.id, vol.id))
                wait(lambda: c.block_storage.get_volume(vol).status, 'available', 'volume detach')
            elif kind == 'volume':
                c.block_storage.delete_volume(obj)
                wait(lambda: gone(c.block_storage.get_volume, obj), True, 'volume delete')
            elif kind == 'floating-ip':
                c.network.delete_ip(obj)
            elif kind == 'server':
                c.compute.delete_server(obj)
                c.compute.wait_for_delete(obj, interval=1, wait=120)
            elif kind == 'port':
                c.network.delete_port(obj)
            elif kind == 'security-group':
                c.network.delete_security_group(obj)
            elif kind == 'router-interface':
                router, sub = obj
                c.network.remove_interface_from_router(router, subnet_id=sub.id)
            elif kind == 'router':
                c.network.update_router(obj, external_gateway_info={})
                c.network.delete_router(obj)
            elif kind == 'network':
                c.network.delete_network(obj)       # its subnet goes with it
        except Exception as e:
            errors.append('delete %s: %s: %s' % (kind, type(e).__name__, e))
    # verify: nothing of this run is left
    checks = {
        'server': c.compute.get_server, 'volume': c.block_storage.get_volume,
        'floating-ip': c.network.get_ip, 'port': c.network.get_port,
        'router': c.network.get_router, 'network': c.network.get_network,
        'security-group': c.network.get_security_group,
    }
    left = [kind for kind, obj in made if kind in checks and not gone(checks[kind], obj)]
    for kind, obj in made:
        if kind == 'container':
            if any(ct.name == obj for ct in c.object_store.containers()):
                left.append('container')
    if left:
        errors.append('left behind: %s' % ', '.join(left))
    else:
        step('deleted: %s' % ', '.join(k for k, _ in reversed(made)))


if __name__ == '__main__':
    sys.exit(main())
