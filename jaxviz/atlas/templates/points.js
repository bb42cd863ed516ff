{# Every point of the sweep with pages, for compare/<layer>.html (atlas.js): sweep_pages.points_js. #}
window.jaxvizPoints = {{ data|tojson }};
