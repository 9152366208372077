// Hovering a chart shows the time and each line's value under it. The page
// is complete without this: it only reads the data-* attributes the charts
// carry.
(function () {
  var tz = +document.body.dataset.tzOffsetMin;
  function clock(ms) { return new Date(ms + tz * 60000).toISOString().substr(11, 8); }
  function human(v, unit) {
    if (unit === 'bytes') {
      var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
      while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
      return (i ? v.toFixed(1) : v.toFixed(0)) + ' ' + units[i];
    }
    if (unit === 'percent') return v.toFixed(1) + '%';
    if (unit === 'ms') return v < 1000 ? v.toFixed(0) + ' ms' : (v / 1000).toFixed(1) + ' s';
    return String(+v.toFixed(2));
  }
  document.querySelectorAll('svg.chart').forEach(function (svg) {
    var d = svg.dataset, from = +d.from, to = +d.to, x0 = +d.x0, x1 = +d.x1;
    var readout = svg.parentNode.querySelector('output'), cursor = svg.querySelector('.cursor');
    var lines = Array.prototype.map.call(svg.querySelectorAll('g.line'), function (g) {
      return { name: g.dataset.name, t: g.dataset.t.split(' ').map(Number), v: g.dataset.v.split(' ').map(Number) };
    });
    svg.addEventListener('mousemove', function (e) {
      var p = svg.createSVGPoint();
      p.x = e.clientX; p.y = e.clientY;
      var x = p.matrixTransform(svg.getScreenCTM().inverse()).x;
      var s = (from + (x - x0) / (x1 - x0) * (to - from) - from) / 1000, said = [];
      lines.forEach(function (l) {
        var lo = 0, hi = l.t.length - 1;
        while (lo < hi) { var mid = (lo + hi) >> 1; if (l.t[mid] < s) lo = mid + 1; else hi = mid; }
        if (lo > 0 && s - l.t[lo - 1] < l.t[lo] - s) lo--;
        if (Math.abs(l.t[lo] - s) * 1000 <= +d.gap) said.push(l.name + ' ' + human(l.v[lo], d.unit));
      });
      cursor.setAttribute('x1', x); cursor.setAttribute('x2', x);
      cursor.style.visibility = 'visible';
      readout.textContent = clock(from + s * 1000) + '  ' + said.join(' · ');
    });
    svg.addEventListener('mouseleave', function () { cursor.style.visibility = 'hidden'; });
  });
})();
