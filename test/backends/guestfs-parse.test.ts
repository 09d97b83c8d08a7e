import { describe, expect, it } from '@jest/globals';
import { parseSubvolumeList } from '../../src/backends/guestfs-parse.js';

describe('parseSubvolumeList', () => {
  it('reads ids and paths from the top level, as guestfish prints btrfs-subvolume-list on a subvolid=5 mount', () => {
    // Printed by guestfish 1.48 for a filesystem with root, home, root/nested and a snapshot of root.
    const text = [
      '[0] = {',
      '  btrfssubvolume_id: 256',
      '  btrfssubvolume_top_level_id: 5',
      '  btrfssubvolume_path: root',
      '}',
      '[1] = {',
      '  btrfssubvolume_id: 257',
      '  btrfssubvolume_top_level_id: 5',
      '  btrfssubvolume_path: home',
      '}',
      '[2] = {',
      '  btrfssubvolume_id: 258',
      '  btrfssubvolume_top_level_id: 256',
      '  btrfssubvolume_path: root/nested',
      '}',
      '[3] = {',
      '  btrfssubvolume_id: 259',
      '  btrfssubvolume_top_level_id: 5',
      '  btrfssubvolume_path: <FS_TREE>/deleted',
      '}',
      '[4] = {',
      '  btrfssubvolume_id: 260',
      '  btrfssubvolume_top_level_id: 5',
      '  btrfssubvolume_path: @/.snapshots/1/snapshot',
      '}',
    ].join('\n');
    expect(parseSubvolumeList(text)).toEqual([
      { id: 256, path: '/root' },
      { id: 257, path: '/home' },
      { id: 258, path: '/root/nested' },
      { id: 260, path: '/@/.snapshots/1/snapshot' },
    ]);
    expect(parseSubvolumeList('')).toEqual([]);
  });
});
