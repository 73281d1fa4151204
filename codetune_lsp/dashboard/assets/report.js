// Draws the report's charts with Chart.js from the JSON specs in #report-data.
// Each chart's numbers are also in the table that follows it, which stays open when a chart
// cannot be drawn (or when JavaScript is off).
(function () {
  'use strict';
  var root = document.documentElement;
  root.classList.remove('no-js');
  root.classList.add('js');

  var formats = {
    count: function (v) { return Math.round(v).toLocaleString('en'); },
    ms: function (v) { return v >= 1000 ? (Math.round(v / 100) / 10) + ' s' : Math.round(v) + ' ms'; },
    percent: function (v) { return (Math.round(v * 10) / 10) + '%'; },
    cost: function (v) { return v.toFixed(v < 1 ? 4 : 2); },
    number: function (v) { return v.toLocaleString('en', { maximumFractionDigits: 3 }); }
  };

  function shown(format, value) {
    if (value === null || value === undefined) { return '–'; }
    if (Array.isArray(value)) { return shown(format, value[0]) + ' – ' + shown(format, value[1]); }
    return formats[format](value);
  }

  function dataset(spec, d, manyPoints) {
    var line = (d.type || spec.type) === 'line';
    var out = {
      label: d.label,
      data: d.data,
      backgroundColor: d.color,
      borderColor: d.border || d.color,
      borderWidth: line ? 2 : (d.border ? 1 : 0),
      borderRadius: line ? 0 : 3
    };
    if (d.type) { out.type = d.type; }
    if (line) {
      out.showLine = d.showLine !== false;
      out.pointRadius = d.pointRadius !== undefined ? d.pointRadius : (manyPoints ? 0 : 2.5);
      out.pointHoverRadius = out.pointRadius + 2;
      out.tension = 0.2;
      out.spanGaps = false;
      if (d.dashed) { out.borderDash = [6, 4]; }
      if (d.pointRadius) { out.order = -1; }
    } else {
      out.borderSkipped = d.border ? false : 'start';
      out.maxBarThickness = 42;
    }
    return out;
  }

  function config(spec) {
    var manyPoints = spec.labels.length > 40;
    var value = {
      beginAtZero: true,
      stacked: spec.stacked,
      grid: { color: '#eef2f7' },
      ticks: { callback: function (v) { return shown(spec.yFormat, v); } },
      title: { display: !!spec.yTitle, text: spec.yTitle }
    };
    if (spec.yMax !== null) { value.max = spec.yMax; }
    var category = {
      stacked: spec.stacked,
      grid: { display: false },
      ticks: spec.timeAxis
        ? { autoSkip: true, maxRotation: 0, maxTicksLimit: 10 }
        : { autoSkip: false, maxRotation: spec.horizontal ? 0 : 35 }
    };
    return {
      type: spec.type,
      data: { labels: spec.labels, datasets: spec.datasets.map(function (d) { return dataset(spec, d, manyPoints); }) },
      options: {
        indexAxis: spec.horizontal ? 'y' : 'x',
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: 'nearest', axis: spec.horizontal ? 'y' : 'x', intersect: false },
        scales: spec.horizontal ? { x: value, y: category } : { x: category, y: value },
        plugins: {
          legend: {
            display: spec.datasets.length > 1,
            position: 'bottom',
            labels: spec.type === 'line'
              ? { usePointStyle: true, pointStyle: 'line', boxWidth: 26 }
              : { boxWidth: 12, boxHeight: 12 }
          },
          tooltip: {
            callbacks: {
              label: function (item) {
                return item.dataset.label + ': ' + shown(spec.yFormat, item.raw);
              }
            }
          }
        }
      }
    };
  }

  var specs = JSON.parse(document.getElementById('report-data').textContent);
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = '#475569';
  var drawn = 0;
  specs.forEach(function (spec) {
    var canvas = document.getElementById(spec.id);
    var figure = canvas.closest('figure');
    try {
      new Chart(canvas, config(spec));
      figure.querySelector('details.data').open = false;
      drawn += 1;
    } catch (error) {
      figure.classList.add('chart-failed');
      canvas.parentNode.style.display = 'none';
      console.error('codetune report: chart ' + spec.id + ' could not be drawn: ' + error);
    }
  });
  root.setAttribute('data-charts-drawn', String(drawn));
  root.setAttribute('data-charts-total', String(specs.length));
})();
